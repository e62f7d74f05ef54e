//! A fake X API for direct messages: `POST /2/dm_conversations/with/{participant id}/messages`
//! with a JSON body, recorded (with its `Authorization` header and when it arrived) and answered
//! like X (201, `{"data": {"dm_conversation_id", "dm_event_id"}}`). Tests can make the next
//! calls fail like X does: a 429 with `x-rate-limit-reset`, a 500, a 403 problem...
//!
//! Media both ways: `POST /2/media/upload` takes the chunked flow (multipart `command=INIT`,
//! `APPEND`, `FINALIZE`), recording each finished upload's bytes, type, category and
//! `Authorization`, and answers `data.id` as X does; `GET /ton/{name}` serves bytes planted
//! with [`FakeX::plant_dm_media`] (like ton.x.com's DM media), only to requests carrying a
//! valid OAuth 1.0a signature of that URL for the planted credentials (401 otherwise, as X
//! answers an unsigned or badly signed request), recording every request and its
//! `Authorization`.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use futures::TryStreamExt;
use serde_json::{Value, json};

pub use crate::channels::x::oauth1::OAuth1Credentials;

/// Calls recorded at most (the oldest are forgotten).
const RECORD_MAX: usize = 10_000;

/// One DM send the fake received.
#[derive(Clone, Debug)]
pub struct SentDm {
    pub participant_id: String,
    pub authorization: Option<String>,
    pub body: Value,
    /// The `dm_event_id` it was answered with (`None`: answered with an error).
    pub dm_event_id: Option<String>,
    pub received: Instant,
    /// Wall-clock receive time.
    pub received_at: chrono::DateTime<chrono::Utc>,
}

impl SentDm {
    pub fn text(&self) -> Option<&str> {
        self.body.get("text").and_then(Value::as_str)
    }
}

/// One finished media upload the fake received.
#[derive(Clone, Debug)]
pub struct Upload {
    pub media_id: String,
    pub media_type: String,
    pub media_category: String,
    pub bytes: Vec<u8>,
    pub authorization: Option<String>,
}

/// One request for a planted DM media file.
#[derive(Clone, Debug)]
pub struct MediaRequest {
    pub name: String,
    pub authorization: Option<String>,
}

/// An upload between INIT and FINALIZE.
struct Session {
    media_type: String,
    media_category: String,
    total_bytes: usize,
    segments: Vec<(usize, Vec<u8>)>,
}

struct Planted {
    bytes: Vec<u8>,
    content_type: String,
    credentials: OAuth1Credentials,
}

struct Failure {
    http_status: u16,
    /// `x-rate-limit-reset`, this many seconds from now (429s).
    reset_in_seconds: Option<i64>,
}

#[derive(Default)]
struct State {
    calls: VecDeque<SentDm>,
    next: u64,
    failures: VecDeque<Failure>,
    sessions: HashMap<String, Session>,
    uploads: Vec<Upload>,
    planted: HashMap<String, Planted>,
    media_requests: Vec<MediaRequest>,
}

#[derive(Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every call, oldest first (the demo page reads them).
    pub(crate) fn recorded(&self) -> Vec<SentDm> {
        self.lock().calls.iter().cloned().collect()
    }
}

pub struct FakeX {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Option<actix_web::dev::ServerHandle>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeX {
    /// Start on an ephemeral port of 127.0.0.1.
    ///
    /// # Panics
    /// If no local port can be bound or the server thread cannot start (test setup failure);
    /// use [`FakeX::start_on`] to handle that.
    pub fn start() -> FakeX {
        match Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))) {
            Ok(fake) => fake,
            Err(err) => panic!("fake x: cannot start: {err}"),
        }
    }

    /// Start on `addr` (port 0 for an ephemeral port).
    pub fn start_on(addr: SocketAddr) -> io::Result<FakeX> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let data = web::Data::from(shared.clone());
        let (server, thread) = super::serve_on_thread("fake-x", listener, 1, move |cfg| {
            configure(cfg, data.clone())
        })?;
        tracing::info!(%addr, "fake x: listening");
        Ok(FakeX {
            addr,
            shared,
            server: Some(server),
            thread: Some(thread),
        })
    }

    /// The fake's state without a server of its own: another fake's server (fake-graph)
    /// serves its routes ([`configure`]) on `addr`.
    pub(crate) fn embedded(addr: SocketAddr) -> FakeX {
        FakeX {
            addr,
            shared: Arc::new(Shared::default()),
            server: None,
            thread: None,
        }
    }

    /// Its routes' state, for [`configure`].
    pub(crate) fn data(&self) -> web::Data<Shared> {
        web::Data::from(self.shared.clone())
    }

    /// What `x.api_base_url` should be.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every call, oldest first.
    pub fn calls(&self) -> Vec<SentDm> {
        self.shared.lock().calls.iter().cloned().collect()
    }

    /// The texts of the accepted DMs to `participant`, oldest first.
    pub fn texts_to(&self, participant: &str) -> Vec<String> {
        self.calls()
            .iter()
            .filter(|c| c.dm_event_id.is_some() && c.participant_id == participant)
            .filter_map(|c| c.text().map(str::to_owned))
            .collect()
    }

    /// Wait until `matches` holds for the calls (polling); the calls at the end.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        matches: impl Fn(&[SentDm]) -> bool,
    ) -> Vec<SentDm> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let calls = self.calls();
            if matches(&calls) || tokio::time::Instant::now() >= deadline {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Answer the next `times` calls with HTTP `status` (X's problem body); a 429 carries
    /// `x-rate-limit-reset` `reset_in_seconds` from now when given.
    pub fn fail_next(&self, status: u16, reset_in_seconds: Option<i64>, times: usize) {
        let mut state = self.shared.lock();
        for _ in 0..times {
            state.failures.push_back(Failure {
                http_status: status,
                reset_in_seconds,
            });
        }
    }

    /// Finished media uploads, oldest first.
    pub fn uploads(&self) -> Vec<Upload> {
        self.shared.lock().uploads.clone()
    }

    /// Keep `bytes` as a customer's DM media, served only to requests signed with
    /// `credentials` (OAuth 1.0a): its URL.
    pub fn plant_dm_media(
        &self,
        bytes: &[u8],
        content_type: &str,
        credentials: &OAuth1Credentials,
    ) -> String {
        let mut state = self.shared.lock();
        let name = format!("m{}.bin", state.planted.len() + 1);
        state.planted.insert(
            name.clone(),
            Planted {
                bytes: bytes.to_vec(),
                content_type: content_type.to_string(),
                credentials: credentials.clone(),
            },
        );
        format!("{}/ton/{name}", self.base_url())
    }

    /// The requests for DM media (planted or not), oldest first.
    pub fn media_requests(&self) -> Vec<MediaRequest> {
        self.shared.lock().media_requests.clone()
    }

    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            drop(server.stop(false));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for FakeX {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The DM API's route (`/2/dm_conversations/with/{participant}/messages`) on `data`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig, data: web::Data<Shared>) {
    cfg.service(
        web::resource("/2/dm_conversations/with/{participant}/messages")
            .app_data(data.clone())
            .app_data(web::JsonConfig::default().limit(1 << 20))
            .route(web::post().to(send)),
    )
    .service(
        web::resource("/2/media/upload")
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(16 << 20))
            .route(web::post().to(upload)),
    )
    .service(
        web::resource("/ton/{name}")
            .app_data(data)
            .route(web::get().to(dm_media)),
    );
}

async fn send(
    req: HttpRequest,
    participant: web::Path<String>,
    body: web::Json<Value>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let participant_id = participant.into_inner();
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut state = shared.lock();
    let failure = state.failures.pop_front();
    let dm_event_id = failure.is_none().then(|| {
        state.next += 1;
        format!("{}", 1_900_000_000_000_000_000_u64 + state.next)
    });
    if state.calls.len() >= RECORD_MAX {
        state.calls.pop_front();
    }
    state.calls.push_back(SentDm {
        participant_id: participant_id.clone(),
        authorization,
        body: body.into_inner(),
        dm_event_id: dm_event_id.clone(),
        received: Instant::now(),
        received_at: chrono::Utc::now(),
    });
    drop(state);
    match (failure, dm_event_id) {
        (Some(f), _) => {
            let status = actix_web::http::StatusCode::from_u16(f.http_status)
                .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
            let title = status.canonical_reason().unwrap_or("Error");
            let mut response = HttpResponse::build(status);
            if let Some(seconds) = f.reset_in_seconds {
                let reset = chrono::Utc::now().timestamp() + seconds;
                response.insert_header(("x-rate-limit-limit", "15"));
                response.insert_header(("x-rate-limit-remaining", "0"));
                response.insert_header(("x-rate-limit-reset", reset.to_string()));
            }
            response.json(json!({
                "title": title,
                "detail": format!("{title} (fake X API)"),
                "type": "about:blank",
                "status": f.http_status,
            }))
        }
        (None, id) => HttpResponse::Created().json(json!({
            "data": {
                "dm_conversation_id": format!("{participant_id}-fake"),
                "dm_event_id": id,
            }
        })),
    }
}

fn authorization_of(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn problem(status: actix_web::http::StatusCode, detail: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "title": status.canonical_reason().unwrap_or("Error"),
        "detail": detail,
        "type": "about:blank",
        "status": status.as_u16(),
    }))
}

/// `POST /2/media/upload`: INIT, APPEND, FINALIZE of the chunked flow (multipart fields).
async fn upload(req: HttpRequest, bytes: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    use actix_web::http::StatusCode;
    let authorization = authorization_of(&req);
    // Some user-context authorisation, OAuth 2.0 or 1.0a (tests check which, and its
    // signature, from the recorded header).
    if !authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Bearer ") || a.starts_with("OAuth "))
    {
        return problem(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let stream =
        futures::stream::once(async move { Ok::<_, actix_web::error::PayloadError>(bytes) });
    let mut form = actix_multipart::Multipart::new(req.headers(), stream);
    let mut fields: HashMap<String, Vec<u8>> = HashMap::new();
    loop {
        let mut field = match form.try_next().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return problem(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        let name = field.name().unwrap_or_default().to_string();
        let mut data = Vec::new();
        loop {
            match field.try_next().await {
                Ok(Some(chunk)) => data.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => return problem(StatusCode::BAD_REQUEST, &e.to_string()),
            }
        }
        fields.insert(name, data);
    }
    let text = |name: &str| {
        fields
            .get(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    let mut state = shared.lock();
    match text("command").as_str() {
        "INIT" => {
            let media_category = text("media_category");
            if !media_category.starts_with("dm_") {
                return problem(StatusCode::BAD_REQUEST, "media_category must be dm_*");
            }
            let Ok(total_bytes) = text("total_bytes").parse::<usize>() else {
                return problem(StatusCode::BAD_REQUEST, "total_bytes is required");
            };
            state.next += 1;
            let id = format!("{}", 1_880_000_000_000_000_000_u64 + state.next);
            state.sessions.insert(
                id.clone(),
                Session {
                    media_type: text("media_type"),
                    media_category,
                    total_bytes,
                    segments: Vec::new(),
                },
            );
            HttpResponse::Accepted().json(json!({"data": {
                "id": id, "media_key": format!("3_{id}"), "expires_after_secs": 86400}}))
        }
        "APPEND" => {
            let id = text("media_id");
            let Ok(index) = text("segment_index").parse::<usize>() else {
                return problem(StatusCode::BAD_REQUEST, "segment_index is required");
            };
            let Some(media) = fields.remove("media") else {
                return problem(StatusCode::BAD_REQUEST, "media is required");
            };
            if media.len() > 5 * 1024 * 1024 {
                return problem(StatusCode::PAYLOAD_TOO_LARGE, "chunk over 5 MB");
            }
            match state.sessions.get_mut(&id) {
                Some(session) => {
                    session.segments.push((index, media));
                    HttpResponse::NoContent().finish()
                }
                None => problem(StatusCode::BAD_REQUEST, "unknown media_id"),
            }
        }
        "FINALIZE" => {
            let id = text("media_id");
            let Some(mut session) = state.sessions.remove(&id) else {
                return problem(StatusCode::BAD_REQUEST, "unknown media_id");
            };
            session.segments.sort_by_key(|(i, _)| *i);
            let bytes: Vec<u8> = session.segments.into_iter().flat_map(|(_, b)| b).collect();
            if bytes.len() != session.total_bytes {
                return problem(StatusCode::BAD_REQUEST, "size does not match total_bytes");
            }
            let size = bytes.len();
            state.uploads.push(Upload {
                media_id: id.clone(),
                media_type: session.media_type,
                media_category: session.media_category,
                bytes,
                authorization,
            });
            HttpResponse::Ok().json(json!({"data": {
                "id": id, "media_key": format!("3_{id}"), "size": size,
                "expires_after_secs": 86400}}))
        }
        _ => problem(StatusCode::BAD_REQUEST, "unknown command"),
    }
}

/// `GET /ton/{name}`: a planted DM media file, only to a request signed for it.
async fn dm_media(
    req: HttpRequest,
    name: web::Path<String>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let name = name.into_inner();
    let authorization = authorization_of(&req);
    let mut state = shared.lock();
    state.media_requests.push(MediaRequest {
        name: name.clone(),
        authorization: authorization.clone(),
    });
    // The URL the client signed: this server's address as it named it, and the path.
    let info = req.connection_info();
    let url = reqwest::Url::parse(&format!("{}://{}{}", info.scheme(), info.host(), req.uri()));
    let signed = |file: &Planted| match (&url, &authorization) {
        (Ok(url), Some(header)) => file.credentials.verifies("GET", url, header),
        _ => false,
    };
    match state.planted.get(&name) {
        Some(file) if signed(file) => HttpResponse::Ok()
            .content_type(file.content_type.clone())
            .body(file.bytes.clone()),
        Some(_) => HttpResponse::Unauthorized().finish(),
        None => HttpResponse::NotFound().finish(),
    }
}
