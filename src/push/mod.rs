//! Notifications: each user's settings, and Web Push (RFC 8030) to their browsers and phones,
//! so a closed console still hears about an offer.
//!
//! The conversation step's console events are the source: once a step committed, the node that
//! ran it hands each event to [`Pusher::notify`] (in `Effects::run`, the one place events leave
//! a step), which picks the events that notify ([`notice_for`], pure: an offer, an assignment,
//! a customer's message) and puts them in a bounded queue; a full queue drops the notice and
//! counts it, so a push never slows a conversation. A worker reads the user's settings and
//! subscriptions, encrypts the payload for each subscription (RFC 8291, aes128gcm) and signs a
//! VAPID JWT (RFC 8292) with the `web-push` crate, and sends the request with the gateway's
//! HTTP client. A subscription the push service calls gone (404, 410) is deleted. A user found
//! without any subscription is not looked up again for [`NO_SUBSCRIPTION_TTL`] (most agents
//! never subscribe, and a busy agent is told of every customer message): a browser subscribing
//! through this node is heard at once, through another node of a cluster within that time.
//!
//! The payload is built from the event as the step masked it, and carries only the kind, the
//! conversation id, the customer's name as agents see it and an offer's expiry: never a number
//! the team masks.

pub mod model;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use web_push::{
    ContentEncoding, PartialVapidSignatureBuilder, SubscriptionInfo, Urgency,
    VapidSignatureBuilder, WebPushMessageBuilder,
};

use self::model::{NotifyKind, PushSubscription, VapidKeys};
use crate::config::PushSettings;
use crate::domain::AgentId;
use crate::metrics as m;
use crate::store::{Store, StoreError};

/// Longest endpoint URL accepted.
const MAX_ENDPOINT: usize = 2048;
/// Longest user agent kept with a subscription.
const MAX_USER_AGENT: usize = 512;

/// An event that notifies a user.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub agent: AgentId,
    pub kind: NotifyKind,
    pub conversation_id: String,
    /// The customer's name as the user's console shows it (masked where the team masks).
    pub customer: Option<String>,
    /// An offer's expiry (unix ms).
    pub expires_at: Option<i64>,
}

/// Which console event notifies, and about what (pure). `data` is the event as the step
/// masked it.
pub fn notice_for(agent: &AgentId, kind: &str, data: &Value) -> Option<Notice> {
    let (kind, conversation) = match kind {
        "conversation.offered" => (NotifyKind::Offer, &data["conversation"]),
        "conversation.assigned" => (NotifyKind::Assignment, &data["conversation"]),
        "conversation.sla_breached" => (NotifyKind::Sla, &data["conversation"]),
        "message.created" if data["message"]["direction"] == "inbound" => {
            (NotifyKind::Message, &Value::Null)
        }
        _ => return None,
    };
    let conversation_id = conversation["id"]
        .as_str()
        .or_else(|| data["conversation_id"].as_str())?
        .to_string();
    Some(Notice {
        agent: agent.clone(),
        kind,
        conversation_id,
        customer: conversation["customer"]["name"]
            .as_str()
            .map(|n| n.chars().take(80).collect()),
        expires_at: data["expires_at"].as_i64(),
    })
}

/// The JSON the service worker receives (see `console/sw.js`).
pub fn payload(notice: &Notice) -> Value {
    json!({
        "kind": notice.kind.as_str(),
        "conversation_id": notice.conversation_id,
        "customer": notice.customer,
        "expires_at": notice.expires_at,
        "url": format!("/#/conversations/{}", notice.conversation_id),
    })
}

/// How long a push service keeps the notice for an offline device, and its urgency: an offer
/// is worth nothing once it expired, and wakes a phone.
pub fn ttl_and_urgency(notice: &Notice, now_ms: i64, default_ttl: u32) -> (u32, Urgency) {
    match notice.kind {
        NotifyKind::Offer => {
            let left = notice
                .expires_at
                .map(|at| ((at - now_ms).max(0) / 1000) as u32)
                .unwrap_or(default_ttl);
            (left.min(default_ttl), Urgency::High)
        }
        NotifyKind::Assignment | NotifyKind::Sla => (default_ttl, Urgency::High),
        NotifyKind::Message => (default_ttl, Urgency::Normal),
    }
}

/// A browser's `PushSubscription.toJSON()`, as the console posts it.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionJson {
    pub endpoint: String,
    #[serde(default, rename = "expirationTime")]
    #[schema(value_type = Option<f64>)]
    pub expiration_time: Option<Value>,
    pub keys: SubscriptionKeysJson,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionKeysJson {
    pub p256dh: String,
    pub auth: String,
}

/// Decode base64url with or without padding (browsers send it without).
fn b64url(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .ok()
}

/// The origin of an endpoint (`scheme://host[:port]`): the VAPID JWT's audience.
pub fn origin(endpoint: &reqwest::Url) -> String {
    endpoint.origin().ascii_serialization()
}

/// Check a subscription a console posted (pure): the endpoint is an `https` URL (or `http`
/// where allowed) on an allowed host, the key is a P-256 point, the auth secret 16 bytes.
/// Answers the subscription to store, or why not.
pub fn validate(
    input: &SubscriptionJson,
    settings: &PushSettings,
    user: &AgentId,
    user_agent: Option<&str>,
    now_ms: i64,
) -> Result<PushSubscription, String> {
    if input.endpoint.len() > MAX_ENDPOINT {
        return Err(format!("endpoint longer than {MAX_ENDPOINT} bytes"));
    }
    let url = reqwest::Url::parse(&input.endpoint).map_err(|e| format!("endpoint: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if settings.allow_http_endpoints => {}
        other => return Err(format!("endpoint: scheme {other} is not allowed (https)")),
    }
    let host = url
        .host_str()
        .ok_or("endpoint: no host")?
        .to_ascii_lowercase();
    if !url.username().is_empty() || url.password().is_some() {
        return Err("endpoint: credentials in the URL".into());
    }
    if !settings.endpoint_hosts.is_empty()
        && !settings.endpoint_hosts.iter().any(|allowed| {
            let allowed = allowed.to_ascii_lowercase();
            match allowed.strip_prefix('.') {
                Some(domain) => host == domain || host.ends_with(&allowed),
                None => host == allowed,
            }
        })
    {
        return Err(format!("endpoint: push service {host} is not allowed"));
    }
    let p256dh = b64url(&input.keys.p256dh).ok_or("keys.p256dh: not base64url")?;
    if p256dh.len() != 65
        || p256dh[0] != 4
        || jwt_simple::prelude::ES256PublicKey::from_bytes(&p256dh).is_err()
    {
        return Err("keys.p256dh: not an uncompressed P-256 public key".into());
    }
    let auth = b64url(&input.keys.auth).ok_or("keys.auth: not base64url")?;
    if auth.len() != 16 {
        return Err("keys.auth: must be 16 bytes".into());
    }
    Ok(PushSubscription {
        id: uuid::Uuid::now_v7().to_string(),
        user: user.clone(),
        endpoint: input.endpoint.clone(),
        p256dh: URL_SAFE_NO_PAD.encode(&p256dh),
        auth: URL_SAFE_NO_PAD.encode(&auth),
        user_agent: user_agent.map(|ua| ua.chars().take(MAX_USER_AGENT).collect()),
        created_at: now_ms,
        session: None,
    })
}

/// The server's VAPID key pair, read from the store (generated and stored by the first node
/// that needed it).
#[derive(Clone)]
pub struct Vapid {
    signer: PartialVapidSignatureBuilder,
    /// The uncompressed public key, base64url without padding (what `applicationServerKey`
    /// takes).
    pub public_key: String,
}

impl Vapid {
    /// The stored key pair, or a new one stored now.
    pub async fn load(store: &dyn Store) -> anyhow::Result<Self> {
        let fresh = jwt_simple::prelude::ES256KeyPair::generate();
        let signer =
            VapidSignatureBuilder::from_base64_no_sub(&URL_SAFE_NO_PAD.encode(fresh.to_bytes()))
                .map_err(|e| anyhow::anyhow!("VAPID key: {e}"))?;
        let candidate = VapidKeys {
            private_key: URL_SAFE_NO_PAD.encode(fresh.to_bytes()),
            public_key: URL_SAFE_NO_PAD.encode(signer.get_public_key()),
            created_at: chrono::Utc::now().timestamp_millis(),
        };
        let stored = store.vapid_keys(&candidate).await?;
        let signer = VapidSignatureBuilder::from_base64_no_sub(&stored.private_key)
            .map_err(|e| anyhow::anyhow!("the stored VAPID key is unusable: {e}"))?;
        Ok(Self {
            public_key: URL_SAFE_NO_PAD.encode(signer.get_public_key()),
            signer,
        })
    }
}

/// What a push service answered.
#[derive(Debug, PartialEq)]
enum Delivery {
    Sent,
    /// 404 or 410: the subscription is no more.
    Gone,
    Failed(String),
    /// A timeout, a refused connection, 429 or 5xx: worth another try (after the push
    /// service's `Retry-After`, when it gave one).
    Transient {
        why: String,
        retry_after: Option<Duration>,
    },
}

/// The longest wait between two tries of a push, whatever the push service asks.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// The wait before the next try: backon's, or the push service's `Retry-After` when longer
/// (at most [`MAX_RETRY_DELAY`]); `None` (give up) when the tries are spent or the notice would
/// outlive its time to live (`left`) before it (pure).
pub fn next_try(
    backoff: Option<Duration>,
    retry_after: Option<Duration>,
    left: Duration,
) -> Option<Duration> {
    let wait = match retry_after {
        Some(asked) => backoff?.max(asked.min(MAX_RETRY_DELAY)),
        None => backoff?,
    };
    (wait < left).then_some(wait)
}

/// `Retry-After` in seconds (the HTTP-date form is not used by push services).
fn retry_after(answer: &reqwest::Response) -> Option<Duration> {
    answer
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// How long a user found without any push subscription is taken to have none.
pub const NO_SUBSCRIPTION_TTL: Duration = Duration::from_secs(1);

/// Users found without any push subscription, and when: their notices are dropped without
/// reading the store until [`NO_SUBSCRIPTION_TTL`] has passed. Bounded: past
/// `MAX_REMEMBERED` users, the stale ones are forgotten.
#[derive(Clone, Default)]
struct Unsubscribed(Arc<Mutex<HashMap<AgentId, Instant>>>);

impl Unsubscribed {
    const MAX_REMEMBERED: usize = 10_000;

    fn known(&self, agent: &AgentId, now: Instant) -> bool {
        self.0.lock().is_ok_and(|users| {
            users
                .get(agent)
                .is_some_and(|since| now.duration_since(*since) < NO_SUBSCRIPTION_TTL)
        })
    }

    fn remember(&self, agent: &AgentId, now: Instant) {
        if let Ok(mut users) = self.0.lock() {
            if users.len() >= Self::MAX_REMEMBERED {
                users.retain(|_, since| now.duration_since(*since) < NO_SUBSCRIPTION_TTL);
            }
            if users.len() < Self::MAX_REMEMBERED {
                users.insert(agent.clone(), now);
            }
        }
    }

    fn forget(&self, agent: &AgentId) {
        if let Ok(mut users) = self.0.lock() {
            users.remove(agent);
        }
    }
}

/// Queues notices and sends them (see the module's documentation).
pub struct Pusher {
    queue: mpsc::Sender<Notice>,
    vapid: Vapid,
    unsubscribed: Unsubscribed,
}

struct Worker {
    store: Arc<dyn Store>,
    client: reqwest::Client,
    vapid: Vapid,
    settings: PushSettings,
    unsubscribed: Unsubscribed,
}

impl Pusher {
    /// Start the worker (a task on the current runtime; it ends when the pusher is dropped).
    pub fn start(
        settings: &PushSettings,
        store: Arc<dyn Store>,
        client: reqwest::Client,
        vapid: Vapid,
    ) -> (Arc<Self>, actix_rt::task::JoinHandle<()>) {
        let (queue, rx) = mpsc::channel(settings.queue_capacity.max(1));
        let unsubscribed = Unsubscribed::default();
        let worker = Arc::new(Worker {
            store,
            client,
            vapid: vapid.clone(),
            settings: settings.clone(),
            unsubscribed: unsubscribed.clone(),
        });
        let concurrency = settings.concurrency.max(1);
        let task =
            actix_rt::spawn(async move {
                let notices = futures::stream::unfold(rx, |mut rx| async move {
                    rx.recv().await.map(|n| (n, rx))
                });
                notices
                    .for_each_concurrent(concurrency, |notice| {
                        let worker = worker.clone();
                        async move { worker.deliver(notice).await }
                    })
                    .await;
            });
        (
            Arc::new(Self {
                queue,
                vapid,
                unsubscribed,
            }),
            task,
        )
    }

    /// `agent` just subscribed a browser on this node: their next notice looks it up.
    pub fn subscribed(&self, agent: &AgentId) {
        self.unsubscribed.forget(agent);
    }

    /// The VAPID public key, base64url.
    pub fn public_key(&self) -> &str {
        &self.vapid.public_key
    }

    /// A console event for `agent` was committed: queue a push if it is one that notifies.
    /// Never waits: a full queue drops the notice (counted).
    pub fn notify(&self, agent: &AgentId, kind: &str, data: &Value) {
        let Some(notice) = notice_for(agent, kind, data) else {
            return;
        };
        let label = notice.kind.as_str();
        if let Err(mpsc::error::TrySendError::Full(_)) = self.queue.try_send(notice) {
            metrics::counter!(m::PUSH_NOTIFICATIONS, "kind" => label, "outcome" => "dropped")
                .increment(1);
        }
    }
}

impl Worker {
    async fn deliver(&self, notice: Notice) {
        let label = notice.kind.as_str();
        let count = |outcome: &'static str| {
            metrics::counter!(m::PUSH_NOTIFICATIONS, "kind" => label, "outcome" => outcome)
                .increment(1);
        };
        let subscriptions = match self.wanted(&notice).await {
            Ok(Some(subscriptions)) => subscriptions,
            Ok(None) => return count("unwanted"),
            Err(e) => {
                tracing::warn!(error = %e, "push: cannot read the user's subscriptions");
                return count("failed");
            }
        };
        let now = chrono::Utc::now().timestamp_millis();
        let body = payload(&notice).to_string();
        let (ttl, urgency) = ttl_and_urgency(&notice, now, self.settings.ttl_seconds);
        // Each device at once: one whose push service is failing never holds up the others
        // (a user keeps at most `max_subscriptions_per_user`).
        let (notice, body) = (&notice, body.as_bytes());
        let deliveries = subscriptions.iter().map(|subscription| async move {
            let outcome = self
                .send_with_retries(subscription, notice, body, ttl, urgency)
                .await;
            (subscription, outcome)
        });
        for (subscription, outcome) in futures::future::join_all(deliveries).await {
            match outcome {
                Delivery::Sent => count("sent"),
                Delivery::Gone => {
                    count("gone");
                    if let Err(e) = self
                        .store
                        .delete_push_subscription(None, &subscription.id)
                        .await
                    {
                        tracing::warn!(error = %e, "push: cannot delete a gone subscription");
                    }
                }
                Delivery::Failed(why) | Delivery::Transient { why, .. } => {
                    count("failed");
                    tracing::info!(reason = %why, "push: not delivered");
                }
            }
        }
    }

    /// [`Worker::send`], tried again on transient failures (see [`next_try`]).
    async fn send_with_retries(
        &self,
        subscription: &PushSubscription,
        notice: &Notice,
        body: &[u8],
        ttl: u32,
        urgency: Urgency,
    ) -> Delivery {
        let started = tokio::time::Instant::now();
        let lifetime = Duration::from_secs(u64::from(ttl));
        let once = || async {
            match self.send(subscription, notice, body, ttl, urgency).await {
                Delivery::Transient { why, retry_after } => Err((why, retry_after)),
                done => Ok(done),
            }
        };
        let schedule = ExponentialBuilder::new()
            .with_min_delay(Duration::from_millis(
                self.settings.retry_min_delay_ms.max(1),
            ))
            .with_max_delay(MAX_RETRY_DELAY)
            .with_jitter()
            .with_max_times(self.settings.retries as usize);
        once.retry(schedule)
            .adjust(|(_, asked): &(String, Option<Duration>), backoff| {
                next_try(backoff, *asked, lifetime.saturating_sub(started.elapsed()))
            })
            .notify(|(why, _): &(String, Option<Duration>), wait| {
                metrics::counter!(m::PUSH_NOTIFICATIONS, "kind" => notice.kind.as_str(), "outcome" => "retried")
                    .increment(1);
                tracing::debug!(reason = %why, ?wait, "push: trying again");
            })
            .await
            .unwrap_or_else(|(why, retry_after)| Delivery::Transient { why, retry_after })
    }

    /// The user's subscriptions if the user wants this kind of notice (none: nothing to send).
    async fn wanted(&self, notice: &Notice) -> Result<Option<Vec<PushSubscription>>, StoreError> {
        let now = Instant::now();
        if self.unsubscribed.known(&notice.agent, now) {
            return Ok(Some(Vec::new()));
        }
        let subscriptions = self.store.push_subscriptions(&notice.agent).await?;
        if subscriptions.is_empty() {
            self.unsubscribed.remember(&notice.agent, now);
            return Ok(Some(subscriptions));
        }
        let settings = self
            .store
            .notification_settings(&notice.agent)
            .await?
            .unwrap_or_default();
        if !notice.kind.wanted(&settings) {
            return Ok(None);
        }
        Ok(Some(subscriptions))
    }

    async fn send(
        &self,
        subscription: &PushSubscription,
        notice: &Notice,
        body: &[u8],
        ttl: u32,
        urgency: Urgency,
    ) -> Delivery {
        let message = match self.build(subscription, notice, body, ttl, urgency) {
            Ok(message) => message,
            Err(why) => return Delivery::Failed(why),
        };
        let (parts, body) =
            web_push::request_builder::build_request::<Vec<u8>>(message).into_parts();
        let mut outgoing = self
            .client
            .post(parts.uri.to_string())
            .timeout(Duration::from_millis(self.settings.timeout_ms))
            .body(body);
        for (name, value) in &parts.headers {
            outgoing = outgoing.header(name.as_str(), value.as_bytes());
        }
        match outgoing.send().await {
            Ok(answer) => match answer.status().as_u16() {
                200..=299 => Delivery::Sent,
                404 | 410 => Delivery::Gone,
                status @ (429 | 500..=599) => Delivery::Transient {
                    why: format!("push service answered {status}"),
                    retry_after: retry_after(&answer),
                },
                status => Delivery::Failed(format!("push service answered {status}")),
            },
            // Timeouts and connections refused or cut: the request may go through next time.
            Err(e) if e.is_timeout() || e.is_connect() || e.is_request() => Delivery::Transient {
                why: e.to_string(),
                retry_after: None,
            },
            Err(e) => Delivery::Failed(e.to_string()),
        }
    }

    /// The encrypted, signed request for one subscription (built by the `web-push` crate).
    fn build(
        &self,
        subscription: &PushSubscription,
        notice: &Notice,
        body: &[u8],
        ttl: u32,
        urgency: Urgency,
    ) -> Result<web_push::WebPushMessage, String> {
        let endpoint = reqwest::Url::parse(&subscription.endpoint).map_err(|e| e.to_string())?;
        if endpoint.host_str().is_none() {
            return Err("endpoint without a host".into());
        }
        let info = SubscriptionInfo::new(
            subscription.endpoint.as_str(),
            subscription.p256dh.as_str(),
            subscription.auth.as_str(),
        );
        let mut signature = self.vapid.signer.clone().add_sub_info(&info);
        // The audience is the push service's origin, port included (RFC 8292 §2).
        signature.add_claim("aud", origin(&endpoint));
        signature.add_claim("sub", self.settings.subject.as_str());
        let signature = signature.build().map_err(|e| e.to_string())?;
        let mut message = WebPushMessageBuilder::new(&info);
        message.set_payload(ContentEncoding::Aes128Gcm, body);
        message.set_ttl(ttl);
        message.set_urgency(urgency);
        // One pending notice per conversation and kind at the push service: a newer one
        // replaces it (a topic is at most 32 base64url characters).
        let topic: String = format!("{}{}", &notice.kind.as_str()[..1], notice.conversation_id)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(32)
            .collect();
        message.set_topic(topic);
        message.set_vapid_signature(signature);
        message.build().map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests;
