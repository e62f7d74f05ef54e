//! Meta's side of delivery statuses: for every message the fake Graph API accepts, a signed
//! `sent` status webhook (carrying the message's `biz_opaque_callback_data`, our message id) is
//! delivered to the gateway, retried until a node answers 200, like Meta retries for days.
//! Tests use it to show that a message whose sender died mid-request is recognised by its
//! status and not sent twice; the load test, for Meta's realistic status traffic.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::graph::{FakeGraph, RecordedSend};
use crate::channels::signature::SignatureVerifier;

/// A running status feed; stops when dropped.
pub struct StatusFeed {
    targets: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl StatusFeed {
    /// Deliver a `sent` status for every message `graph` accepts from now on to the gateway
    /// nodes `targets` (base URLs, tried in turn), signed with `app_secret`. Must be called in a
    /// tokio runtime.
    pub fn start(graph: &FakeGraph, targets: Vec<String>, app_secret: &str) -> StatusFeed {
        let targets = Arc::new(Mutex::new(targets));
        let (tx, rx) = mpsc::unbounded_channel::<Value>();
        graph.observe(move |send: &RecordedSend| {
            if let Some(webhook) = status_webhook(send) {
                let _ = tx.send(webhook);
            }
        });
        let signer = SignatureVerifier::new(app_secret.as_bytes()).ok();
        let task = tokio::spawn(deliver(rx, targets.clone(), signer));
        StatusFeed { targets, task }
    }

    /// Aim at other nodes from now on (a node died, another joined).
    pub fn set_targets(&self, targets: Vec<String>) {
        if let Ok(mut current) = self.targets.lock() {
            *current = targets;
        }
    }
}

impl Drop for StatusFeed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `sent` status webhook Meta would send for an accepted message (None for anything else).
fn status_webhook(send: &RecordedSend) -> Option<Value> {
    meta_status(send, "sent", "15550783881")
}

/// The status webhook Meta sends when the accepted message `send` reaches `status` (`sent`,
/// `delivered`, `read`), from the business number `display_phone_number`; None when `send`
/// was not an accepted message.
pub(crate) fn meta_status(
    send: &RecordedSend,
    status: &str,
    display_phone_number: &str,
) -> Option<Value> {
    let wamid = send.wamid()?;
    let to = send.to()?;
    let mut entry = json!({
        "id": wamid, "status": status, "recipient_id": to,
        "timestamp": chrono::Utc::now().timestamp().to_string(),
    });
    if let Some(callback) = send.body.get("biz_opaque_callback_data") {
        entry["biz_opaque_callback_data"] = callback.clone();
    }
    // Per-message pricing: a template is charged by its category; anything else is a reply
    // inside the customer-service window, free.
    entry["pricing"] = match &send.category {
        Some(category) => json!({"billable": true, "pricing_model": "PMP", "type": "regular",
            "category": category}),
        None => json!({"billable": false, "pricing_model": "PMP",
            "type": "free_customer_service", "category": "service"}),
    };
    Some(json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "419561257915477", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": display_phone_number, "phone_number_id": send.phone_number_id},
            "statuses": [entry]
        }}]}]
    }))
}

/// Statuses in flight at once (Meta delivers many webhooks concurrently).
const IN_FLIGHT: usize = 32;

async fn deliver(
    mut statuses: mpsc::UnboundedReceiver<Value>,
    targets: Arc<Mutex<Vec<String>>>,
    signer: Option<SignatureVerifier>,
) {
    let Some(signer) = signer else { return };
    let signer = Arc::new(signer);
    let http = reqwest::Client::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut turn = 0usize;
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(webhook) = statuses.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        while tasks.try_join_next().is_some() {}
        let (http, targets, signer) = (http.clone(), targets.clone(), signer.clone());
        tasks.spawn(async move {
            deliver_one(&http, &webhook, &targets, &signer, turn).await;
            drop(permit);
        });
        turn += 1;
    }
    while tasks.join_next().await.is_some() {}
}

/// Like Meta: retry until some node acknowledges it (for a minute here).
async fn deliver_one(
    http: &reqwest::Client,
    webhook: &Value,
    targets: &Mutex<Vec<String>>,
    signer: &SignatureVerifier,
    turn: usize,
) {
    let Ok(body) = serde_json::to_vec(webhook) else {
        return;
    };
    let target_at = |attempt: usize| {
        targets.lock().ok().and_then(|t| {
            (!t.is_empty()).then(|| format!("{}/webhooks/whatsapp", t[(turn + attempt) % t.len()]))
        })
    };
    let _ = post_signed(
        http,
        &body,
        signer,
        target_at,
        600,
        Duration::from_millis(100),
    )
    .await;
}

/// POST the webhook `body`, signed like Meta signs it, to `url_at(attempt)` until an answer
/// is a 2xx, at most `attempts` times `pause` apart. The error says what the last attempt got.
pub(crate) async fn post_signed(
    http: &reqwest::Client,
    body: &[u8],
    signer: &SignatureVerifier,
    url_at: impl Fn(usize) -> Option<String>,
    attempts: usize,
    pause: Duration,
) -> Result<(), String> {
    let signature = signer.sign(body);
    post_with_header(
        http,
        body,
        ("x-hub-signature-256", &signature),
        url_at,
        attempts,
        pause,
    )
    .await
}

/// POST the webhook `body` with the header `(name, value)` (a provider's signature or secret)
/// to `url_at(attempt)` until an answer is a 2xx, at most `attempts` times `pause` apart.
pub(crate) async fn post_with_header(
    http: &reqwest::Client,
    body: &[u8],
    (name, value): (&str, &str),
    url_at: impl Fn(usize) -> Option<String>,
    attempts: usize,
    pause: Duration,
) -> Result<(), String> {
    let mut last = String::from("no webhook URL");
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(pause).await;
        }
        let Some(url) = url_at(attempt) else {
            continue;
        };
        let answer = http
            .post(&url)
            .header("content-type", "application/json")
            .header(name, value)
            .body(body.to_vec())
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        match answer {
            Ok(a) if a.status().is_success() => return Ok(()),
            Ok(a) => last = format!("{url} answered HTTP {}", a.status().as_u16()),
            Err(e) => last = format!("{url} unreachable: {e}"),
        }
    }
    Err(last)
}
