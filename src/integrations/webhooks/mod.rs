//! Event webhooks: business systems subscribe endpoints to event types and are told of events,
//! signed per Standard Webhooks, at least once, in order per conversation.
//!
//! ```text
//! conversation step ──commit_step (same transaction)──▶ webhook_events (the outbox)
//! the lane (every node, its own task; never on intake's or a conversation's path)
//!   │ fan out: outbox events → one pending delivery per enabled endpoint that wants it
//!   │   (`events::wants`, pure; PostgreSQL: one node at a time, an advisory lock)
//!   │ claim due deliveries, first of their (endpoint, conversation), with a lease
//!   │   (PostgreSQL: FOR UPDATE SKIP LOCKED; any node delivers, never two at once)
//!   ▼ ≤ event_webhooks.concurrency attempts at once per node
//!   POST the event, signed (`signing`), timeout event_webhooks.timeout_ms, no redirects
//!   └ `schedule::decide` (pure): 2xx delivered · 410 endpoint disabled · else tried again
//!     after the schedule's next wait (Retry-After when longer) until spent, then failed;
//!     an endpoint failing for event_webhooks.disable_after_ms is disabled; disabling is
//!     audited and logged.
//! ```
//!
//! Endpoints are read from the store at every fan-out and attempt, so a change made on any
//! node applies at once on all. Conversation steps write the outbox only while some endpoint is
//! enabled ([`Subscribed`]: known at once on the node that changed an endpoint, within
//! `event_webhooks.poll_interval_ms` on the others), so a gateway without endpoints spends
//! nothing on events nobody would receive.

pub mod events;
pub mod records;
pub mod schedule;
pub mod signing;
pub mod validate;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use self::records::{
    DeliveryRow, DeliveryState, EndpointEffect, EndpointRow, Finish, WebhookRecords,
};
use self::schedule::{Attempt, Decision};
use crate::accounts::model::ActorKind;
use crate::accounts::model::Role;
use crate::accounts::service::{RequestMeta, audit_entry};
use crate::config::{EventWebhookSettings, Settings};
use crate::desk::Desk;
use crate::media::urls::{GuardedResolver, UrlPolicy};
use crate::metrics as m;
use crate::store::Store;

/// The longest response body excerpt kept in the delivery log.
pub const EXCERPT_BYTES: usize = 1024;

/// Whether any endpoint is enabled (on any node): conversation steps write their events to the
/// outbox only then. Starts true (an unknown answer writes), until the records are read.
#[derive(Clone, Debug)]
pub struct Subscribed(Arc<AtomicBool>);

impl Default for Subscribed {
    fn default() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }
}

impl Subscribed {
    pub fn wanted(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, wanted: bool) {
        self.0.store(wanted, Ordering::Relaxed);
    }
}

pub struct Webhooks {
    pub records: Arc<dyn WebhookRecords>,
    /// Whether steps write the outbox (see [`Subscribed`]); kept by [`Webhooks::refresh`].
    pub subscribed: Subscribed,
    pub settings: EventWebhookSettings,
    /// Which addresses deliveries may reach: public ones and those allowed in the settings.
    pub addresses: Arc<UrlPolicy>,
    client: reqwest::Client,
    /// For the audit entries of endpoints the lane disables.
    store: Arc<dyn Store>,
    /// To tell the admins' consoles when the lane disables an endpoint.
    desk: Arc<Desk>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

impl Webhooks {
    /// The records of this mode (PostgreSQL when the store is, else the SQLite file) and the
    /// lane's HTTP client (no redirects: a delivery goes to the URL subscribed, nowhere else).
    pub async fn open(
        settings: &Settings,
        store: Arc<dyn Store>,
        desk: Arc<Desk>,
        subscribed: Subscribed,
    ) -> anyhow::Result<Arc<Self>> {
        let records = records::open(&settings.database).await?;
        let w = settings.event_webhooks.clone();
        let addresses = Arc::new(UrlPolicy::new(&w.allowed_private_addresses, w.allow_http));
        // Names resolve to allowed addresses only, when connecting; no proxy from the
        // environment (it would resolve names itself).
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver::new(addresses.clone())))
            .no_proxy()
            .timeout(Duration::from_millis(w.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Switchboard-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let webhooks = Arc::new(Self {
            records,
            subscribed,
            addresses,
            settings: w,
            client,
            store,
            desk,
        });
        webhooks.refresh().await?;
        Ok(webhooks)
    }

    /// Read whether any endpoint is enabled into [`Subscribed`]: after a change to the
    /// endpoints here, and every poll interval for changes made on other nodes.
    pub async fn refresh(&self) -> Result<(), crate::store::StoreError> {
        let endpoints = self.records.endpoints().await?;
        self.subscribed.set(endpoints.iter().any(|e| e.enabled));
        Ok(())
    }

    /// Keep [`Subscribed`] current with changes made on other nodes (every node, lane or not).
    pub fn spawn_subscription_watch(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval(Duration::from_millis(me.settings.poll_interval_ms.max(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = me.refresh().await {
                    tracing::warn!(error = %e, "event webhooks: cannot read the endpoints");
                }
            }
        })
    }

    fn schedule(&self) -> Vec<Duration> {
        self.settings
            .retry_schedule_ms
            .iter()
            .copied()
            .map(Duration::from_millis)
            .collect()
    }

    /// The delivery lane: one task, at most `concurrency` attempts in flight.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move { me.run().await })
    }

    async fn run(self: Arc<Self>) {
        let slots = Arc::new(Semaphore::new(self.settings.concurrency));
        let every = Duration::from_millis(self.settings.poll_interval_ms);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_prune = Instant::now();
        loop {
            tick.tick().await;
            if let Err(e) = self.round(&slots).await {
                tracing::warn!(error = %e, "webhook lane: round failed, retrying");
            }
            if last_prune.elapsed() > Duration::from_secs(3600) {
                last_prune = Instant::now();
                let days = i64::try_from(self.settings.retention_days).unwrap_or(365);
                let before = now_ms() - days * 24 * 3_600_000;
                if let Err(e) = self.records.prune(before).await {
                    tracing::warn!(error = %e, "webhook lane: pruning the delivery log failed");
                }
            }
        }
    }

    /// Fan the outbox out, then start the due deliveries there is room for.
    async fn round(
        self: &Arc<Self>,
        slots: &Arc<Semaphore>,
    ) -> Result<(), crate::store::StoreError> {
        // Bounded: a burst is fanned out over several rounds.
        for _ in 0..8 {
            let taken = self.records.fan_out(now_ms(), self.settings.batch).await?;
            if taken < usize::try_from(self.settings.batch).unwrap_or(usize::MAX) {
                break;
            }
        }
        let room = slots.available_permits();
        if room == 0 {
            return Ok(());
        }
        let now = now_ms();
        let lease = now + i64::try_from(self.settings.lease_ms).unwrap_or(i64::MAX / 4);
        let due = self
            .records
            .claim_due(now, lease, i64::try_from(room).unwrap_or(1))
            .await?;
        for delivery in due {
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                break; // cannot happen: claimed no more than the room
            };
            let me = self.clone();
            tokio::spawn(async move {
                me.attempt(delivery).await;
                drop(permit);
            });
        }
        Ok(())
    }

    /// One attempt of one claimed delivery, its outcome written at once.
    async fn attempt(&self, delivery: DeliveryRow) {
        let endpoint = match self.records.endpoint(&delivery.endpoint_id).await {
            Ok(Some(e)) => e,
            Ok(None) => return, // deleted meanwhile: its deliveries went with it
            Err(e) => {
                tracing::warn!(error = %e, "webhook lane: endpoint unreadable; the lease lapses");
                return;
            }
        };
        let started = Instant::now();
        let (attempt, status, excerpt, error) = self.post(&endpoint, &delivery).await;
        let latency = ms(started.elapsed());
        let attempts = u32::try_from(delivery.attempts).unwrap_or(u32::MAX);
        let decision = schedule::decide(attempt, attempts, &self.schedule());
        let now = now_ms();
        let disable_after = Duration::from_millis(self.settings.disable_after_ms);
        let (state, effect, outcome) = match decision {
            Decision::Delivered => (
                DeliveryState::Delivered,
                EndpointEffect::Succeeded,
                "delivered",
            ),
            Decision::DisableEndpoint => (
                DeliveryState::Failed,
                EndpointEffect::Disable("the endpoint answered 410 Gone".into()),
                "gone",
            ),
            Decision::Retry(_) | Decision::Fail
                if schedule::failed_too_long(endpoint.failing_since, now, disable_after) =>
            {
                let reason = format!(
                    "failing for more than {}",
                    human(self.settings.disable_after_ms)
                );
                let (state, outcome) = match decision {
                    Decision::Retry(wait) => (
                        DeliveryState::Pending {
                            next_attempt_at: now + ms(wait),
                        },
                        "retried",
                    ),
                    _ => (DeliveryState::Failed, "failed"),
                };
                (state, EndpointEffect::Disable(reason), outcome)
            }
            Decision::Retry(wait) => (
                DeliveryState::Pending {
                    next_attempt_at: now + ms(wait),
                },
                EndpointEffect::Failing,
                "retried",
            ),
            Decision::Fail => (DeliveryState::Failed, EndpointEffect::Failing, "failed"),
        };
        metrics::counter!(m::EVENT_WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(1);
        let disabled = match &effect {
            EndpointEffect::Disable(reason) => Some(reason.clone()),
            _ => None,
        };
        let finish = Finish {
            delivery: delivery.id.clone(),
            endpoint: endpoint.id.clone(),
            state,
            response_status: status.map(i64::from),
            latency_ms: Some(latency),
            response_excerpt: excerpt,
            error,
            effect,
            now,
        };
        if let Err(e) = self.records.finish(&finish).await {
            // The lease lapses and the delivery is attempted again: at least once.
            tracing::warn!(error = %e, delivery = %delivery.id, "webhook lane: outcome not written");
            return;
        }
        if let Some(reason) = disabled
            && endpoint.enabled
        {
            self.tell_admins(&endpoint, &reason).await;
        }
    }

    /// POST the delivery's event: the attempt's result, the status, a body excerpt and an
    /// error text.
    async fn post(
        &self,
        endpoint: &EndpointRow,
        delivery: &DeliveryRow,
    ) -> (Attempt, Option<u16>, Option<String>, Option<String>) {
        // The settings may have changed since the endpoint was made: checked at every attempt.
        if let Some(ip) = reqwest::Url::parse(&endpoint.url)
            .ok()
            .as_ref()
            .and_then(validate::literal_address)
            && !self.addresses.address_allowed(ip)
        {
            let error = format!("{ip} is not a public address");
            return (Attempt::NoAnswer, None, None, Some(error));
        }
        let now = now_ms();
        let signed = match signing::headers(
            &endpoint.signing_secrets(now),
            &delivery.event_id,
            now / 1000,
            delivery.payload.as_bytes(),
        ) {
            Ok(h) => h,
            Err(e) => return (Attempt::NoAnswer, None, None, Some(e.to_string())),
        };
        let mut request = self
            .client
            .post(&endpoint.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(delivery.payload.clone());
        for (name, value) in signed {
            request = request.header(name, value);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timeout"
                } else {
                    "connection"
                };
                return (Attempt::NoAnswer, None, None, Some(format!("{kind}: {e}")));
            }
        };
        let status = response.status().as_u16();
        let retry_after = schedule::retry_after(
            response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
        );
        let excerpt = excerpt_of(response).await;
        (
            Attempt::Answered {
                status,
                retry_after,
            },
            Some(status),
            excerpt,
            None,
        )
    }

    /// An endpoint was disabled: audited, logged and counted, and a `webhook.disabled` event in
    /// every active admin's console.
    async fn tell_admins(&self, endpoint: &EndpointRow, reason: &str) {
        tracing::warn!(endpoint = %endpoint.id, url = %endpoint.url, reason, "webhook endpoint disabled");
        metrics::counter!(m::EVENT_WEBHOOK_DISABLED).increment(1);
        let entry = audit_entry(
            ActorKind::System,
            None,
            None,
            "webhook.disable",
            Some(("webhook", &endpoint.id)),
            None,
            Some(serde_json::json!({ "url": endpoint.url, "reason": reason })),
            &RequestMeta::default(),
        );
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::error!(error = %e, "audit entry not written");
        }
        let admins: Vec<_> = self
            .desk
            .directory
            .get()
            .users()
            .filter(|u| u.active && u.role == Role::Admin)
            .map(|u| u.id.clone())
            .collect();
        let notice = serde_json::json!({
            "webhook": { "id": endpoint.id, "url": endpoint.url },
            "reason": reason,
        });
        for admin in admins {
            self.desk
                .emit(&admin, "webhook.disabled", notice.clone())
                .await;
        }
    }
}

/// A duration in milliseconds as people say it (whole hours, else seconds, else ms).
fn human(ms: u64) -> String {
    match ms {
        ms if ms >= 3_600_000 && ms % 3_600_000 == 0 => format!("{} hours", ms / 3_600_000),
        ms if ms >= 1000 => format!("{} seconds", ms / 1000),
        ms => format!("{ms} ms"),
    }
}

/// At most [`EXCERPT_BYTES`] of the answer's body (read no further), as text.
async fn excerpt_of(mut response: reqwest::Response) -> Option<String> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = EXCERPT_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= EXCERPT_BYTES {
            break;
        }
    }
    if body.is_empty() {
        return None;
    }
    let mut text = String::from_utf8_lossy(&body).into_owned();
    while text.len() > EXCERPT_BYTES {
        text.pop();
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(super::human(5 * 24 * 3_600_000), "120 hours");
        assert_eq!(super::human(90_000), "90 seconds");
        assert_eq!(super::human(300), "300 ms");
    }
}
