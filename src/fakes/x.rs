//! A fake X API for direct messages: `POST /2/dm_conversations/with/{participant id}/messages`
//! with a JSON body, recorded (with its `Authorization` header and when it arrived) and answered
//! like X (201, `{"data": {"dm_conversation_id", "dm_event_id"}}`). Tests can make the next
//! calls fail like X does: a 429 with `x-rate-limit-reset`, a 500, a 403 problem...

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

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
            .app_data(data)
            .app_data(web::JsonConfig::default().limit(1 << 20))
            .route(web::post().to(send)),
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
