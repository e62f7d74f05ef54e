//! A fake Telegram Bot API: `POST /bot<token>/<method>` with a JSON body, or multipart form
//! data with a file (its fields become the recorded body, the file is recorded with its name,
//! type and bytes), recorded and answered like Telegram (`{"ok": true, "result": …}`):
//! `sendMessage`, `sendPhoto`, `sendVideo`, `sendAudio`, `sendVoice` and `sendDocument` return a
//! Message with the next message id of its chat; `answerCallbackQuery`
//! and `setWebhook` return `true`; any other method too. Files planted by a test are served
//! like Telegram's: `getFile` gives a `file_path`, `GET /file/bot<token>/<file_path>` the
//! bytes. Tests can make the next calls fail with a Bot API error (a 429 with `retry_after`, a
//! 403 "blocked by the user"...).

use std::collections::{HashMap, VecDeque};
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

/// One call the fake received.
#[derive(Clone, Debug, Serialize)]
pub struct RecordedCall {
    /// The token of the URL (`<bot id>:<secret>`).
    pub token: String,
    pub method: String,
    pub body: Value,
    /// Whether it was answered `ok: true`.
    pub ok: bool,
    /// The file uploaded with it (multipart calls).
    pub file: Option<RecordedFile>,
    /// The `message_id` of the Message it was answered with (the `send…` methods).
    pub message_id: Option<i64>,
    /// When it arrived.
    pub received_at: chrono::DateTime<chrono::Utc>,
}

/// A file uploaded with a multipart call.
#[derive(Clone, Debug, Serialize)]
pub struct RecordedFile {
    /// The form field (`photo`, `document`...).
    pub field: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub size: usize,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

impl RecordedCall {
    /// The `chat_id` the call was for, if any.
    pub fn chat_id(&self) -> Option<i64> {
        self.body.get("chat_id").and_then(Value::as_i64)
    }
}

struct Failure {
    method: Option<String>,
    error_code: u16,
    description: String,
    retry_after: Option<u64>,
}

#[derive(Default)]
struct State {
    calls: VecDeque<RecordedCall>,
    next_message: HashMap<i64, i64>,
    failures: VecDeque<Failure>,
    /// Planted files by file_id.
    files: HashMap<String, Vec<u8>>,
    /// Downloads served (file paths), oldest first.
    downloads: Vec<String>,
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
    pub(crate) fn recorded(&self) -> Vec<RecordedCall> {
        self.lock().calls.iter().cloned().collect()
    }
}

pub struct FakeTelegram {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Option<actix_web::dev::ServerHandle>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeTelegram {
    /// Start on an ephemeral port of 127.0.0.1.
    ///
    /// # Panics
    /// If no local port can be bound or the server thread cannot start (test setup failure);
    /// use [`FakeTelegram::start_on`] to handle that.
    pub fn start() -> FakeTelegram {
        match Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))) {
            Ok(fake) => fake,
            Err(err) => panic!("fake telegram: cannot start: {err}"),
        }
    }

    /// Start on `addr` (port 0 for an ephemeral port).
    pub fn start_on(addr: SocketAddr) -> io::Result<FakeTelegram> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let data = web::Data::from(shared.clone());
        let (server, thread) = super::serve_on_thread("fake-telegram", listener, 1, move |cfg| {
            configure(cfg, data.clone())
        })?;
        tracing::info!(%addr, "fake telegram: listening");
        Ok(FakeTelegram {
            addr,
            shared,
            server: Some(server),
            thread: Some(thread),
        })
    }

    /// The fake's state without a server of its own: another fake's server (fake-graph)
    /// serves its routes ([`configure`]) on `addr`.
    pub(crate) fn embedded(addr: SocketAddr) -> FakeTelegram {
        FakeTelegram {
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

    /// What `telegram.api_base_url` should be.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every call, oldest first.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.shared.lock().calls.iter().cloned().collect()
    }

    /// The accepted calls of `method` for chat `chat_id`, oldest first.
    pub fn sent_to(&self, chat_id: i64, method: &str) -> Vec<RecordedCall> {
        self.shared
            .lock()
            .calls
            .iter()
            .filter(|c| c.ok && c.method == method && c.chat_id() == Some(chat_id))
            .cloned()
            .collect()
    }

    /// The texts of the accepted `sendMessage` calls for `chat_id`, oldest first.
    pub fn texts_to(&self, chat_id: i64) -> Vec<String> {
        self.sent_to(chat_id, "sendMessage")
            .iter()
            .filter_map(|c| {
                c.body
                    .get("text")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect()
    }

    /// Wait until `matches` holds for the calls (polling); the calls at the end.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        matches: impl Fn(&[RecordedCall]) -> bool,
    ) -> Vec<RecordedCall> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let calls = self.calls();
            if matches(&calls) || tokio::time::Instant::now() >= deadline {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Hold `bytes` as a customer's file; its `file_id` (what an update carries).
    pub fn plant_file(&self, bytes: &[u8]) -> String {
        let mut state = self.shared.lock();
        let file_id = format!("AgACAgQAAxkBAAI{}", state.files.len() + 1);
        state.files.insert(file_id.clone(), bytes.to_vec());
        file_id
    }

    /// The file paths downloaded, oldest first.
    pub fn downloads(&self) -> Vec<String> {
        self.shared.lock().downloads.clone()
    }

    /// Answer the next `times` calls (of `method`, or any) with this Bot API error.
    pub fn fail_next(
        &self,
        method: Option<&str>,
        error_code: u16,
        description: &str,
        retry_after: Option<u64>,
        times: usize,
    ) {
        let mut state = self.shared.lock();
        for _ in 0..times {
            state.failures.push_back(Failure {
                method: method.map(str::to_owned),
                error_code,
                description: description.to_owned(),
                retry_after,
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

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Bot API's routes (`/bot<token>/<method>`, `/file/bot<token>/<path>`) on `data`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig, data: web::Data<Shared>) {
    cfg.service(
        web::resource("/bot{token}/{method}")
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(60 << 20))
            .route(web::post().to(call)),
    )
    .service(
        web::resource("/file/bot{token}/{path:.*}")
            .app_data(data)
            .route(web::get().to(file)),
    );
}

/// A multipart call's fields as a JSON body (`chat_id` a number, JSON objects parsed, the rest
/// strings) and its file.
async fn read_multipart(
    req: &HttpRequest,
    bytes: web::Bytes,
) -> Result<(Value, Option<RecordedFile>), String> {
    let stream =
        futures::stream::once(async move { Ok::<_, actix_web::error::PayloadError>(bytes) });
    let mut form = actix_multipart::Multipart::new(req.headers(), stream);
    let mut body = serde_json::Map::new();
    let mut file = None;
    while let Some(mut field) = form.try_next().await.map_err(|e| e.to_string())? {
        let name = field.name().unwrap_or_default().to_string();
        let filename = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(str::to_owned);
        let content_type = field.content_type().map(|m| m.essence_str().to_string());
        let mut data = Vec::new();
        while let Some(chunk) = field.try_next().await.map_err(|e| e.to_string())? {
            data.extend_from_slice(&chunk);
        }
        if filename.is_some() {
            file = Some(RecordedFile {
                field: name,
                filename,
                content_type,
                size: data.len(),
                bytes: data,
            });
            continue;
        }
        let text = String::from_utf8_lossy(&data).into_owned();
        let value = match (name.as_str(), text.parse::<i64>()) {
            ("chat_id", Ok(n)) => json!(n),
            _ if text.starts_with('{') || text.starts_with('[') => {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            }
            _ => Value::String(text),
        };
        body.insert(name, value);
    }
    Ok((Value::Object(body), file))
}

async fn call(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    bytes: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let (token, method) = path.into_inner();
    let multipart = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let parsed = if multipart {
        read_multipart(&req, bytes).await
    } else {
        serde_json::from_slice::<Value>(&bytes)
            .map(|body| (body, None))
            .map_err(|e| e.to_string())
    };
    let (body, file) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            return HttpResponse::BadRequest().json(json!({"ok": false, "error_code": 400,
                "description": format!("Bad Request: {e}")}));
        }
    };
    let mut state = shared.lock();
    let failure = state
        .failures
        .iter()
        .position(|f| f.method.as_deref().is_none_or(|m| m == method))
        .and_then(|i| state.failures.remove(i));
    let answer = match failure {
        Some(f) => {
            let mut answer = json!({
                "ok": false,
                "error_code": f.error_code,
                "description": f.description,
            });
            if let Some(seconds) = f.retry_after {
                answer["parameters"] = json!({ "retry_after": seconds });
            }
            Err((f.error_code, answer))
        }
        None => {
            let result = match method.as_str() {
                "sendMessage" | "sendPhoto" | "sendDocument" | "sendVideo" | "sendAudio"
                | "sendVoice" => {
                    let chat = body.get("chat_id").and_then(Value::as_i64).unwrap_or(0);
                    let next = state.next_message.entry(chat).or_insert(1000);
                    *next += 1;
                    let mut message = json!({
                        "message_id": *next,
                        "date": chrono::Utc::now().timestamp(),
                        "chat": {"id": chat, "type": "private"},
                        "from": {"id": token.split(':').next().and_then(|id| id.parse::<i64>().ok()).unwrap_or(0),
                                 "is_bot": true, "first_name": "Fake bot"},
                    });
                    for field in ["text", "caption", "reply_markup"] {
                        if let Some(value) = body.get(field) {
                            message[field] = value.clone();
                        }
                    }
                    message
                }
                "getFile" => {
                    let id = body
                        .get("file_id")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    match state.files.get(id) {
                        Some(bytes) => json!({
                            "file_id": id,
                            "file_unique_id": format!("u-{id}"),
                            "file_size": bytes.len(),
                            "file_path": format!("photos/{id}.jpg"),
                        }),
                        None => {
                            let answer = json!({"ok": false, "error_code": 400,
                                "description": "Bad Request: invalid file_id"});
                            state.calls.push_back(RecordedCall {
                                token,
                                method,
                                body,
                                ok: false,
                                file,
                                message_id: None,
                                received_at: chrono::Utc::now(),
                            });
                            return HttpResponse::BadRequest().json(answer);
                        }
                    }
                }
                _ => json!(true),
            };
            Ok(json!({ "ok": true, "result": result }))
        }
    };
    if state.calls.len() >= RECORD_MAX {
        state.calls.pop_front();
    }
    let message_id = answer
        .as_ref()
        .ok()
        .and_then(|a| a.pointer("/result/message_id"))
        .and_then(Value::as_i64);
    state.calls.push_back(RecordedCall {
        token,
        method,
        body,
        ok: answer.is_ok(),
        file,
        message_id,
        received_at: chrono::Utc::now(),
    });
    drop(state);
    match answer {
        Ok(answer) => HttpResponse::Ok().json(answer),
        Err((status, answer)) => {
            let status = actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
            HttpResponse::build(status).json(answer)
        }
    }
}

async fn file(path: web::Path<(String, String)>, shared: web::Data<Shared>) -> HttpResponse {
    let (_token, path) = path.into_inner();
    let id = path
        .strip_prefix("photos/")
        .and_then(|p| p.strip_suffix(".jpg"))
        .unwrap_or_default();
    let mut state = shared.lock();
    let bytes = state.files.get(id).cloned();
    state.downloads.push(path);
    match bytes {
        Some(bytes) => HttpResponse::Ok()
            .content_type("application/octet-stream")
            .body(bytes),
        None => HttpResponse::NotFound().finish(),
    }
}
