//! A fake Messenger Send API (also Instagram's: the same endpoint for an account id):
//! `POST /{version}/{page or account id}/messages` with a JSON body, recorded (with its
//! `Authorization` header) and answered like Meta (`{"recipient_id": …, "message_id": "m_…"}`).
//! Tests can make the next calls fail with a Graph error.
//!
//! Also the Attachment Upload API, `POST /{version}/{page or account id}/message_attachments`
//! (multipart `message`, `filedata`, Instagram's `platform`), recorded with the file and
//! answered `{"attachment_id": "att_fake…"}`; and a CDN, `GET /cdn/{name}`, serving the files a
//! test planted ([`FakeMessenger::plant_cdn`]) as the links of customers' attachments, every
//! request recorded, an expired one answered 403 like Meta's CDN. The User Profile API,
//! `GET /{version}/{user id}?fields=…`, answers the profiles a test planted
//! ([`FakeMessenger::plant_profile`]) and Meta's error 100 for anyone else, every request
//! recorded.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use futures::TryStreamExt;
use serde::Serialize;
use serde_json::{Value, json};

/// Calls recorded at most (the oldest are forgotten).
const RECORD_MAX: usize = 10_000;

/// One Send API call the fake received.
#[derive(Clone, Debug, Serialize)]
pub struct SendCall {
    pub page_id: String,
    pub authorization: Option<String>,
    pub body: Value,
    /// The `message_id` it was answered with (`None`: answered with an error).
    pub message_id: Option<String>,
    /// When it arrived.
    pub received_at: chrono::DateTime<chrono::Utc>,
}

impl SendCall {
    /// The PSID the call was for.
    pub fn recipient(&self) -> Option<&str> {
        self.body.pointer("/recipient/id").and_then(Value::as_str)
    }
}

/// One file the Attachment Upload API received.
#[derive(Clone, Debug, Serialize)]
pub struct UploadCall {
    pub page_id: String,
    pub authorization: Option<String>,
    /// The `message` field, parsed.
    pub message: Value,
    /// Instagram's `platform` field.
    pub platform: Option<String>,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    #[serde(skip)]
    pub bytes: Vec<u8>,
    pub attachment_id: String,
}

struct CdnFile {
    bytes: Vec<u8>,
    content_type: String,
    expired: bool,
}

struct Failure {
    code: i64,
    subcode: Option<i64>,
    http_status: u16,
}

#[derive(Default)]
struct State {
    calls: VecDeque<SendCall>,
    next: u64,
    failures: VecDeque<Failure>,
    uploads: Vec<UploadCall>,
    cdn: std::collections::HashMap<String, CdnFile>,
    /// CDN paths requested, oldest first.
    cdn_requests: Vec<String>,
    profiles: std::collections::HashMap<String, Value>,
    profile_requests: Vec<ProfileRequest>,
}

/// One User Profile API request.
#[derive(Clone, Debug)]
pub struct ProfileRequest {
    pub user: String,
    pub fields: Option<String>,
    pub authorization: Option<String>,
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
    pub(crate) fn recorded(&self) -> Vec<SendCall> {
        self.lock().calls.iter().cloned().collect()
    }
}

pub struct FakeMessenger {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Option<actix_web::dev::ServerHandle>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeMessenger {
    /// Start on an ephemeral port of 127.0.0.1.
    ///
    /// # Panics
    /// If no local port can be bound or the server thread cannot start (test setup failure);
    /// use [`FakeMessenger::start_on`] to handle that.
    pub fn start() -> FakeMessenger {
        match Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))) {
            Ok(fake) => fake,
            Err(err) => panic!("fake messenger: cannot start: {err}"),
        }
    }

    /// Start on `addr` (port 0 for an ephemeral port).
    pub fn start_on(addr: SocketAddr) -> io::Result<FakeMessenger> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let data = web::Data::from(shared.clone());
        let (server, thread) = super::serve_on_thread("fake-messenger", listener, 1, move |cfg| {
            cfg.service(
                web::resource("/{version}/{page}/messages")
                    .app_data(data.clone())
                    .app_data(web::JsonConfig::default().limit(1 << 20))
                    .route(web::post().to(send)),
            );
            configure(cfg, data.clone());
            // After the CDN's `/cdn/{name}`: only a Graph version's path is a profile.
            cfg.service(
                web::resource("/{version:v[0-9.]+}/{user}")
                    .app_data(data.clone())
                    .route(web::get().to(profile)),
            );
        })?;
        tracing::info!(%addr, "fake messenger: listening");
        Ok(FakeMessenger {
            addr,
            shared,
            server: Some(server),
            thread: Some(thread),
        })
    }

    /// The fake's state without a server of its own: another fake's server (fake-graph)
    /// serves its routes ([`configure`], and [`record_send`] for the Send API) on `addr`.
    pub(crate) fn embedded(addr: SocketAddr) -> FakeMessenger {
        FakeMessenger {
            addr,
            shared: Arc::new(Shared::default()),
            server: None,
            thread: None,
        }
    }

    /// Its routes' state, for [`configure`] and [`record_send`].
    pub(crate) fn data(&self) -> web::Data<Shared> {
        web::Data::from(self.shared.clone())
    }

    /// What `messenger.api_base_url` should be.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every call, oldest first.
    pub fn calls(&self) -> Vec<SendCall> {
        self.shared.lock().calls.iter().cloned().collect()
    }

    /// The texts of the accepted calls to `psid`, oldest first.
    pub fn texts_to(&self, psid: &str) -> Vec<String> {
        self.calls()
            .iter()
            .filter(|c| c.message_id.is_some() && c.recipient() == Some(psid))
            .filter_map(|c| {
                c.body
                    .pointer("/message/text")
                    .or_else(|| c.body.pointer("/message/attachment/payload/text"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect()
    }

    /// Wait until `matches` holds for the calls (polling); the calls at the end.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        matches: impl Fn(&[SendCall]) -> bool,
    ) -> Vec<SendCall> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let calls = self.calls();
            if matches(&calls) || tokio::time::Instant::now() >= deadline {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The files uploaded with the Attachment Upload API, oldest first.
    pub fn uploads(&self) -> Vec<UploadCall> {
        self.shared.lock().uploads.clone()
    }

    /// Answer `profile` (Meta's fields: `first_name`, `last_name`; Instagram's `name`,
    /// `username`) for `user`'s User Profile API requests.
    pub fn plant_profile(&self, user: &str, profile: Value) {
        self.shared
            .lock()
            .profiles
            .insert(user.to_string(), profile);
    }

    /// The User Profile API requests, oldest first.
    pub fn profile_requests(&self) -> Vec<ProfileRequest> {
        self.shared.lock().profile_requests.clone()
    }

    /// Serve `bytes` on the fake CDN; the link a webhook carries for it.
    pub fn plant_cdn(&self, bytes: &[u8], content_type: &str) -> String {
        let mut state = self.shared.lock();
        let name = format!("f{}.bin", state.cdn.len() + 1);
        state.cdn.insert(
            name.clone(),
            CdnFile {
                bytes: bytes.to_vec(),
                content_type: content_type.to_string(),
                expired: false,
            },
        );
        format!("{}/cdn/{name}?oh=fake-signature", self.base_url())
    }

    /// The planted file's link now answers 403, as Meta's CDN does once a link has expired.
    pub fn expire_cdn(&self, url: &str) {
        let name = url
            .rsplit('/')
            .next()
            .and_then(|n| n.split('?').next())
            .unwrap_or_default();
        if let Some(file) = self.shared.lock().cdn.get_mut(name) {
            file.expired = true;
        }
    }

    /// The CDN paths requested (planted or not), oldest first.
    pub fn cdn_requests(&self) -> Vec<String> {
        self.shared.lock().cdn_requests.clone()
    }

    /// Answer the next `times` calls with this Graph error.
    pub fn fail_next(&self, code: i64, http_status: u16, times: usize) {
        self.fail_next_with(code, None, http_status, times);
    }

    /// Answer the next `times` calls with this Graph error and `error_subcode`.
    pub fn fail_next_with(&self, code: i64, subcode: Option<i64>, http_status: u16, times: usize) {
        let mut state = self.shared.lock();
        for _ in 0..times {
            state.failures.push_back(Failure {
                code,
                subcode,
                http_status,
            });
        }
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

impl Drop for FakeMessenger {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Attachment Upload API and the CDN (`/{version}/{page}/message_attachments`,
/// `/cdn/{name}`) on `data`. The Send API's `/{version}/{page}/messages` is the caller's: it
/// shares its shape with WhatsApp's, so fake-graph dispatches it by id to [`record_send`].
pub(crate) fn configure(cfg: &mut web::ServiceConfig, data: web::Data<Shared>) {
    cfg.service(
        web::resource("/{version}/{page}/message_attachments")
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(60 << 20))
            .route(web::post().to(upload)),
    )
    .service(
        web::resource("/cdn/{name}")
            .app_data(data)
            .route(web::get().to(cdn)),
    );
}

async fn send(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let (_version, page_id) = path.into_inner();
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    record_send(&shared, page_id, authorization, body.into_inner())
}

/// Record one Send API call for `page_id` and answer it like Meta (or with a scripted error).
pub(crate) fn record_send(
    shared: &Shared,
    page_id: String,
    authorization: Option<String>,
    body: Value,
) -> HttpResponse {
    let mut state = shared.lock();
    let failure = state.failures.pop_front();
    // A sender action (`mark_seen`, `typing_on`) is answered without a message id, as Meta does.
    let action = body.get("sender_action").is_some();
    let message_id = (failure.is_none() && !action).then(|| {
        state.next += 1;
        format!("m_fake{}", state.next)
    });
    let recipient = body
        .pointer("/recipient/id")
        .cloned()
        .unwrap_or(Value::Null);
    if state.calls.len() >= RECORD_MAX {
        state.calls.pop_front();
    }
    state.calls.push_back(SendCall {
        page_id,
        authorization,
        body,
        message_id: message_id.clone(),
        received_at: chrono::Utc::now(),
    });
    drop(state);
    match (failure, message_id) {
        (Some(f), _) => {
            let status = actix_web::http::StatusCode::from_u16(f.http_status)
                .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
            let mut error = json!({
                "message": "(#fake) fake Send API error",
                "type": "OAuthException",
                "code": f.code,
                "fbtrace_id": "Fake"
            });
            if let Some(subcode) = f.subcode {
                error["error_subcode"] = json!(subcode);
            }
            HttpResponse::build(status).json(json!({ "error": error }))
        }
        (None, Some(mid)) => HttpResponse::Ok().json(json!({
            "recipient_id": recipient,
            "message_id": mid,
        })),
        (None, None) => HttpResponse::Ok().json(json!({ "recipient_id": recipient })),
    }
}

async fn upload(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    bytes: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let (_version, page_id) = path.into_inner();
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let stream =
        futures::stream::once(async move { Ok::<_, actix_web::error::PayloadError>(bytes) });
    let mut form = actix_multipart::Multipart::new(req.headers(), stream);
    let mut message = Value::Null;
    let mut platform = None;
    let mut file: Option<(Option<String>, Option<String>, Vec<u8>)> = None;
    let bad = |e: String| {
        HttpResponse::BadRequest().json(json!({"error": {"message": e, "code": 100,
            "type": "OAuthException"}}))
    };
    loop {
        let mut field = match form.try_next().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return bad(e.to_string()),
        };
        let name = field.name().unwrap_or_default().to_string();
        let filename = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(str::to_owned);
        let content_type = field.content_type().map(|m| m.essence_str().to_string());
        let mut data = Vec::new();
        loop {
            match field.try_next().await {
                Ok(Some(chunk)) => data.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => return bad(e.to_string()),
            }
        }
        match name.as_str() {
            "message" => message = serde_json::from_slice(&data).unwrap_or(Value::Null),
            "platform" => platform = Some(String::from_utf8_lossy(&data).into_owned()),
            "filedata" => file = Some((filename, content_type, data)),
            _ => {}
        }
    }
    let Some((filename, content_type, bytes)) = file else {
        return bad("(#100) No filedata".into());
    };
    if message.pointer("/attachment/type").is_none() {
        return bad("(#100) message.attachment.type is required".into());
    }
    let mut state = shared.lock();
    state.next += 1;
    let attachment_id = format!("att_fake{}", state.next);
    state.uploads.push(UploadCall {
        page_id,
        authorization,
        message,
        platform,
        filename,
        content_type,
        bytes,
        attachment_id: attachment_id.clone(),
    });
    HttpResponse::Ok().json(json!({ "attachment_id": attachment_id }))
}

async fn cdn(path: web::Path<String>, shared: web::Data<Shared>) -> HttpResponse {
    let name = path.into_inner();
    let mut state = shared.lock();
    state.cdn_requests.push(name.clone());
    match state.cdn.get(&name) {
        Some(file) if file.expired => HttpResponse::Forbidden().body("URL signature expired"),
        Some(file) => HttpResponse::Ok()
            .content_type(file.content_type.clone())
            .body(file.bytes.clone()),
        None => HttpResponse::NotFound().finish(),
    }
}

/// `GET /{version}/{user}`: a planted profile (with its `id`), else Meta's error 100.
async fn profile(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let (_version, user) = path.into_inner();
    let fields =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.get("fields").cloned());
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut state = shared.lock();
    if state.profile_requests.len() < RECORD_MAX {
        state.profile_requests.push(ProfileRequest {
            user: user.clone(),
            fields,
            authorization,
        });
    }
    match state.profiles.get(&user) {
        Some(profile) => {
            let mut body = profile.clone();
            if let Some(map) = body.as_object_mut() {
                map.insert("id".into(), json!(user));
            }
            HttpResponse::Ok().json(body)
        }
        None => HttpResponse::BadRequest().json(json!({"error": {
            "message": format!("Unsupported get request. Object with ID '{user}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."),
            "type": "GraphMethodException",
            "code": 100,
            "error_subcode": 33,
            "fbtrace_id": "AfakeTrace"
        }})),
    }
}
