//! Test harness: the real application on port 0, with a temporary SQLite file, a fake Graph
//! API and a fake business API (real HTTP servers), driven over HTTP like Meta would.
#![allow(dead_code)]

pub mod browser;
pub mod burst;
pub mod campaigns;
pub mod cluster;
pub mod console;
pub mod meta;
pub mod process;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard::channels::signature::SignatureVerifier;
use switchboard::config::Settings;
use switchboard::fakes::graph::FakeGraph;
use switchboard::startup::{AppHandle, Application};

pub const APP_SECRET: &str = "test-app-secret";
pub const VERIFY_TOKEN: &str = "test-verify-token";
/// The support channel's phone_number_id in config/base.yaml (the one Meta's examples use).
pub const PHONE_NUMBER_ID: &str = "106540352242922";

pub struct TestApp {
    pub address: String,
    pub handle: AppHandle,
    pub graph: Arc<FakeGraph>,
    pub db_path: PathBuf,
    pub client: reqwest::Client,
    pub settings: Settings,
    signer: SignatureVerifier,
    _dir: Option<tempfile::TempDir>,
    /// Servers the app needs while it runs (a cluster-mode app's Redis and database).
    guards: Vec<Box<dyn std::any::Any>>,
}

/// The demo configuration with test secrets, port 0, a fresh database under `dir`, and the
/// Graph API pointed at `graph`.
pub fn test_settings(dir: &Path, graph: &FakeGraph) -> Settings {
    let config_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings =
        Settings::load_from(&config_dir, "test", false).expect("the demo configuration loads");
    settings.server.port = 0;
    settings.server.workers = 2;
    settings.database.url = format!("sqlite://{}", dir.join("switchboard.db").display());
    // The embedded media store (and anything else kept under the data dir) stays in `dir`.
    settings.database.data_dir = dir.to_path_buf();
    settings.whatsapp.app_secret = APP_SECRET.to_string().into();
    settings.whatsapp.verify_token = VERIFY_TOKEN.to_string().into();
    settings.whatsapp.api_base_url = graph.base_url();
    settings.whatsapp.mark_as_read = false;
    settings.conversations.sweep_interval_ms = 200;
    settings.conversations.sweep_grace_ms = 500;
    settings.outbound.initial_backoff_ms = 10;
    settings.outbound.max_backoff_ms = 100;
    settings.outbound.pair_rate_backoff_ms = 50;
    settings.outbound.per_recipient_burst = 50;
    settings.outbound.per_recipient_per_minute = 600;
    // Tests register their own panel apps (tests/panel_apps_browser.rs seeds the demo's).
    settings.panel_apps.clear();
    // Templates are synced when a test asks (POST /api/v1/templates/sync); tests/templates.rs
    // turns the schedule on.
    settings.templates.sync_interval_minutes = 0;
    if let Some(bot) = settings.bots.get_mut("default") {
        // Deterministic whatever the day: always open, business API at the fake.
        bot.hours = None;
        bot.apis.insert("orders".into(), graph.business_url());
    }
    settings
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let graph = Arc::new(FakeGraph::start());
        let mut settings = test_settings(dir.path(), &graph);
        customize(&mut settings);
        let db_path = dir.path().join("switchboard.db");
        let mut app = Self::start(settings, graph, db_path).await;
        app._dir = Some(dir);
        app
    }

    /// Start the application on an existing settings/database (restart tests).
    pub async fn start(settings: Settings, graph: Arc<FakeGraph>, db_path: PathBuf) -> TestApp {
        let app = Application::build(settings.clone())
            .await
            .expect("the application builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        actix_rt::spawn(app.run_until_stopped());
        TestApp {
            address,
            handle,
            graph,
            db_path,
            client: reqwest::Client::new(),
            signer: SignatureVerifier::new(APP_SECRET.as_bytes()).expect("key"),
            settings,
            _dir: None,
            guards: Vec::new(),
        }
    }

    /// Keep `guard` (a server the app uses) alive as long as the app.
    pub fn keep(&mut self, guard: impl std::any::Any) {
        self.guards.push(Box::new(guard));
    }

    /// Stop the app and hand back what a restart needs (the temp dir stays alive).
    /// Keep a temporary directory alive as long as this app (after a restart).
    pub fn keep_dir(&mut self, dir: Option<tempfile::TempDir>) {
        self._dir = dir;
    }

    pub async fn stop(mut self) -> (Settings, Arc<FakeGraph>, PathBuf, Option<tempfile::TempDir>) {
        self.handle.stop().await;
        (self.settings, self.graph, self.db_path, self._dir.take())
    }

    pub fn sign(&self, body: &[u8]) -> String {
        self.signer.sign(body)
    }

    /// POST a correctly signed webhook body.
    pub async fn post_webhook(&self, body: &[u8]) -> reqwest::Response {
        self.client
            .post(format!("{}/webhooks/whatsapp", self.address))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", self.sign(body))
            .body(body.to_vec())
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_json(&self, value: &Value) -> reqwest::Response {
        self.post_webhook(&serde_json::to_vec(value).expect("json"))
            .await
    }

    /// The Prometheus text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .expect("metrics request")
            .text()
            .await
            .expect("metrics body")
    }

    /// A read-only connection to the app's database file, for assertions.
    pub async fn db(&self) -> sqlx::SqlitePool {
        sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&format!("sqlite://{}?mode=ro", self.db_path.display()))
            .await
            .expect("open database")
    }

    pub async fn scalar(&self, sql: &'static str) -> i64 {
        let db = self.db().await;
        let v: i64 = sqlx::query_scalar(sql).fetch_one(&db).await.expect(sql);
        db.close().await;
        v
    }

    /// Wait until `sql` (a COUNT) returns at least `n`.
    pub async fn wait_count(&self, sql: &'static str, n: i64, timeout: Duration) -> i64 {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let v = self.scalar(sql).await;
            if v >= n || tokio::time::Instant::now() > deadline {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Texts the fake Graph API received for `recipient`, in order (bodies of text messages,
    /// interactive bodies for menus).
    pub fn texts_to(&self, recipient: &str) -> Vec<String> {
        burst::texts(&self.graph, recipient)
    }

    /// Wait until the fake Graph API has `n` messages for `recipient`.
    pub async fn wait_messages_to(
        &self,
        recipient: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let messages = self.graph.messages_to(recipient);
            if messages.len() >= n || tokio::time::Instant::now() > deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A webhook with one text message from `wa_id` to the support number.
pub fn text_webhook(wa_id: &str, wamid: &str, body: &str) -> Value {
    message_webhook(
        wa_id,
        wamid,
        json!({"type": "text", "text": {"body": body}}),
    )
}

/// A webhook with one interactive button reply.
pub fn button_reply_webhook(wa_id: &str, wamid: &str, id: &str, title: &str) -> Value {
    message_webhook(
        wa_id,
        wamid,
        json!({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": id, "title": title}}}),
    )
}

/// A webhook with one interactive list reply.
pub fn list_reply_webhook(wa_id: &str, wamid: &str, id: &str, title: &str) -> Value {
    message_webhook(
        wa_id,
        wamid,
        json!({"type": "interactive", "interactive": {"type": "list_reply", "list_reply": {"id": id, "title": title}}}),
    )
}

thread_local! {
    /// How far behind now customers' messages are stamped (see [`customers_wrote_ago`]).
    static CUSTOMER_CLOCK_BEHIND: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// From now on (on this test's thread) customers' messages carry a timestamp this far in the
/// past, as webhooks Meta delivers late do: Meta's 24-hour window runs from that timestamp.
pub fn customers_wrote_ago(ago: std::time::Duration) {
    CUSTOMER_CLOCK_BEHIND.with(|c| c.set(ago.as_secs()));
}

pub fn message_webhook(wa_id: &str, wamid: &str, content: Value) -> Value {
    // Written now, as a customer would (unless a test set the clock back).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(1_749_416_383)
        .saturating_sub(CUSTOMER_CLOCK_BEHIND.with(|c| c.get()));
    let mut message = json!({"from": wa_id, "id": wamid, "timestamp": now.to_string()});
    if let (Some(m), Some(c)) = (message.as_object_mut(), content.as_object()) {
        for (k, v) in c {
            m.insert(k.clone(), v.clone());
        }
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "419561257915477", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": format!("Customer {wa_id}")}, "wa_id": wa_id}],
            "messages": [message]
        }}]}]
    })
}

/// A status webhook for a message we sent.
pub fn status_webhook(recipient: &str, wamid: &str, status: &str) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "419561257915477", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
            "statuses": [{"id": wamid, "status": status, "timestamp": "1749416400", "recipient_id": recipient}]
        }}]}]
    })
}

/// The fixture files extracted from Meta's OpenAPI description and written from WIRE.md.
pub fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/whatsapp");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, std::fs::read(&p).expect("fixture readable"))
        })
        .collect()
}
