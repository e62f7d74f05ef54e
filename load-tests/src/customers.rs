//! Simulated WhatsApp customers: each one walks a script through the demo bot (menus, the
//! order lookup and the booking, which call the fake business API), and some end with a
//! handoff to a person. Their messages are signed webhooks, the shape of
//! `tests/common/mod.rs` `text_webhook`, fired over a keep-alive connection pool. A customer's
//! messages go one after the other (each waits for the previous one's 200); up to `active`
//! customers write at the same time, with at most `connections` requests in flight.
//!
//! A 503 is counted as its own kind and retried after its `Retry-After`, as Meta does, so
//! nothing is lost; transport errors are retried a few times, then given up and counted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;
use switchboard::channels::signature::SignatureVerifier;
use tokio::sync::Semaphore;

use crate::stats::{Counter, Errors, PerSecond, SharedHistogram};

/// Attempts of one webhook after transport errors (503s are retried without limit, until the
/// run's deadline).
const MAX_TRANSPORT_ATTEMPTS: usize = 5;

/// How fast messages are fired.
#[derive(Clone, Copy, Debug)]
pub enum Pace {
    /// As fast as the connections allow (closed loop).
    Unlimited,
    /// `rate` messages a second for `duration` (open loop: each message has a due time).
    Constant { rate: f64, duration: Duration },
    /// From `from` to `to` messages a second, linearly over `duration`.
    Ramp {
        from: f64,
        to: f64,
        duration: Duration,
    },
}

impl Pace {
    /// When slot `n` (the n-th message of the run, from 0) is due, as an offset from the
    /// start; None once the run is over.
    fn due(&self, n: u64) -> Option<Duration> {
        let n = n as f64;
        match *self {
            Pace::Unlimited => Some(Duration::ZERO),
            Pace::Constant { rate, duration } => {
                let t = n / rate.max(0.001);
                (t < duration.as_secs_f64()).then(|| Duration::from_secs_f64(t))
            }
            Pace::Ramp { from, to, duration } => {
                // Messages by time t: from·t + (to − from)·t² / (2D); solve for t.
                let d = duration.as_secs_f64();
                let a = (to - from) / (2.0 * d);
                let t = if a.abs() < 1e-12 {
                    n / from.max(0.001)
                } else {
                    (-from + (from * from + 4.0 * a * n).max(0.0).sqrt()) / (2.0 * a)
                };
                (t.is_finite() && t < d).then(|| Duration::from_secs_f64(t.max(0.0)))
            }
        }
    }
}

/// Which team a handoff customer asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandoffTo {
    /// "agent": the shortcut, routed automatically (the demo rules send it to support).
    Auto,
    /// "Talk to a person" then "Sales" from the main menu: the sales team, which offers
    /// conversations to agents (they accept).
    Sales,
}

/// What the customers of a run do.
#[derive(Clone, Debug)]
pub struct CustomerPlan {
    /// Customers `first..first + customers`.
    pub first: usize,
    pub customers: usize,
    /// Messages per customer; the first `extra` customers send one more.
    pub messages_per_customer: usize,
    pub extra: usize,
    /// Share of customers whose last message hands off to a person.
    pub handoff_fraction: f64,
    /// Share of those who pick Sales from the menu (offers) rather than typing "agent".
    pub sales_fraction: f64,
    pub pace: Pace,
    pub active: usize,
    pub connections: usize,
    /// Numbers (phone_number_ids) customers write to; customer i writes to number i % len.
    pub numbers: Vec<String>,
    /// Retry transport errors (a node down) until the run's deadline, as Meta retries for
    /// days, instead of giving up after a few attempts.
    pub persistent: bool,
    /// Share of acknowledged webhooks delivered a second time (Meta delivers at least once).
    pub redeliver_fraction: f64,
}

/// Low-discrepancy choice: about `fraction` of the customers, spread evenly. Different
/// (irrational) steps make independent choices.
fn chosen(i: usize, fraction: f64, step: f64) -> bool {
    (i as f64 * step).fract() < fraction
}

/// The golden ratio's and √2's fractional parts.
const HANDOFF_STEP: f64 = 0.618_033_988_749_895;
const SALES_STEP: f64 = 0.414_213_562_373_095;
/// √3's fractional part.
const REDELIVER_STEP: f64 = 0.732_050_807_568_877;

impl CustomerPlan {
    pub fn handoff_of(&self, i: usize) -> Option<HandoffTo> {
        if !chosen(i, self.handoff_fraction, HANDOFF_STEP) {
            return None;
        }
        if chosen(i, self.sales_fraction, SALES_STEP) {
            Some(HandoffTo::Sales)
        } else {
            Some(HandoffTo::Auto)
        }
    }

    pub fn total_messages(&self) -> usize {
        self.customers * self.messages_per_customer + self.extra.min(self.customers)
    }

    pub fn messages_of(&self, i: usize) -> usize {
        self.messages_per_customer + usize::from(i - self.first < self.extra)
    }
}

/// The texts customer `i` sends, in order.
pub fn script(messages: usize, handoff: Option<HandoffTo>) -> Vec<&'static str> {
    // After "hi" (greeting + main menu): track an order (the bot GETs the fake business API),
    // book an appointment (it POSTs), an FAQ, the menu shortcut; then again.
    const CYCLE: [&str; 6] = [
        "Track my order",
        "A1234",
        "Book appointment",
        "2026-12-03",
        "hours",
        "menu",
    ];
    let bot = |k: usize| {
        if k == 0 {
            "hi"
        } else {
            CYCLE[(k - 1) % CYCLE.len()]
        }
    };
    let messages = messages.max(1);
    match handoff {
        None => (0..messages).map(bot).collect(),
        // Picking Sales takes two messages from the main menu, after at least "hi".
        Some(HandoffTo::Sales) if messages >= 3 => {
            let mut texts: Vec<&'static str> = (0..messages - 2).map(bot).collect();
            if !at_menu_after(&texts) {
                // In the middle of a question: the "menu" shortcut goes back to the menu.
                texts.pop();
                texts.push("menu");
            }
            texts.push("Talk to a person");
            texts.push("Sales");
            texts
        }
        Some(_) => {
            let mut texts: Vec<&'static str> = (0..messages - 1).map(bot).collect();
            // A shortcut: works at a menu and in the middle of a question alike.
            texts.push("agent");
            texts
        }
    }
}

/// Whether the bot is at a menu after these texts (not waiting for an answer).
/// Whether the bot is at a menu after these texts (not waiting for an answer).
fn at_menu_after(texts: &[&str]) -> bool {
    !matches!(texts.last(), Some(&"Track my order" | &"Book appointment"))
}

/// Stable identifiers of one run: customers' numbers and message ids carry the run's nonce,
/// so a gateway that already holds earlier runs' data is checked on this run's only.
#[derive(Clone, Copy, Debug)]
pub struct RunIds {
    pub nonce: u16,
}

impl RunIds {
    pub fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64 + d.as_secs())
            .unwrap_or(0);
        Self {
            nonce: 1000 + (nanos % 9000) as u16,
        }
    }
    pub fn wa_id(&self, customer: usize) -> String {
        format!("1{:04}{customer:06}", self.nonce)
    }
    pub fn wamid(&self, customer: usize, k: usize) -> String {
        format!("wamid.LT{:04}C{customer:06}M{k:03}", self.nonce)
    }
    /// SQL LIKE pattern of this run's message ids.
    pub fn wamid_like(&self) -> String {
        format!("wamid.LT{:04}C%", self.nonce)
    }
    /// SQL LIKE pattern of this run's customers.
    pub fn customer_like(&self) -> String {
        format!("1{:04}%", self.nonce)
    }
}

/// The webhook body of one text message (tests/common/mod.rs `text_webhook`), written now (the
/// customer-service window runs from the customer's message: an old timestamp would close it and
/// agents' replies would be refused).
pub fn text_webhook(phone_number_id: &str, wa_id: &str, wamid: &str, text: &str) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "419561257915477", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": format!("Customer {wa_id}")}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": wamid, "timestamp": now.to_string(),
                          "type": "text", "text": {"body": text}}]
        }}]}]
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// A handoff message as it was sent.
#[derive(Clone, Debug)]
pub struct HandoffSent {
    /// When its (last) attempt was sent.
    pub sent: Instant,
    pub acked: bool,
}

/// What the firing saw.
pub struct FireStats {
    pub start: Instant,
    pub sent: Counter,
    pub acked: Counter,
    pub unavailable: Counter,
    pub errors: Errors,
    pub latency: SharedHistogram,
    pub per_second: PerSecond,
    /// (customer, message index) of every acknowledged webhook.
    pub acked_ids: Mutex<Vec<(u32, u16)>>,
    /// Handoff messages by the customer's wa_id.
    pub handoffs: Mutex<HashMap<String, HandoffSent>>,
    /// Acknowledged webhooks delivered again (and acknowledged again).
    pub redelivered: Counter,
    /// Microseconds from `start` to the last acknowledgement.
    last_ack_us: AtomicU64,
    pub customers_done: Counter,
}

impl FireStats {
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            sent: Counter::default(),
            acked: Counter::default(),
            unavailable: Counter::default(),
            errors: Errors::default(),
            latency: SharedHistogram::default(),
            per_second: PerSecond::new(start),
            acked_ids: Mutex::new(Vec::new()),
            handoffs: Mutex::new(HashMap::new()),
            redelivered: Counter::default(),
            last_ack_us: AtomicU64::new(0),
            customers_done: Counter::default(),
        }
    }

    /// From the start to the last acknowledgement.
    pub fn firing_time(&self) -> Duration {
        Duration::from_micros(self.last_ack_us.load(Ordering::Relaxed))
    }

    pub fn acks_per_second(&self) -> f64 {
        let t = self.firing_time().as_secs_f64();
        if t > 0.0 {
            self.acked.get() as f64 / t
        } else {
            0.0
        }
    }

    fn note_ack(&self, at: Instant) {
        let us = at.saturating_duration_since(self.start).as_micros() as u64;
        self.last_ack_us.fetch_max(us, Ordering::Relaxed);
    }
}

/// Everything the customer tasks share.
struct Firing {
    plan: CustomerPlan,
    ids: RunIds,
    /// Webhook URLs (nodes); customer i starts at i % len and moves on after a transport error.
    urls: Vec<String>,
    http: reqwest::Client,
    signer: SignatureVerifier,
    in_flight: Semaphore,
    next_customer: AtomicU64,
    next_slot: AtomicU64,
    stats: Arc<FireStats>,
    /// Ctrl-C: stop now.
    stop: Arc<AtomicBool>,
    /// The pace's duration is over: customers send nothing new (what is due still goes).
    over: AtomicBool,
    deadline: Instant,
}

/// Fire the plan at `webhook_urls` (one per node); returns when every customer is done, the pace's duration is
/// over, `stop` is set or `deadline` passes.
pub async fn fire(
    plan: CustomerPlan,
    ids: RunIds,
    webhook_urls: Vec<String>,
    app_secret: &str,
    stats: Arc<FireStats>,
    stop: Arc<AtomicBool>,
    deadline: Instant,
) -> Result<()> {
    if webhook_urls.is_empty() {
        anyhow::bail!("no webhook URL to fire at");
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(plan.connections)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let signer = SignatureVerifier::new(app_secret.as_bytes())
        .map_err(|e| anyhow::anyhow!("app secret: {e}"))?;
    let firing = Arc::new(Firing {
        in_flight: Semaphore::new(plan.connections.max(1)),
        next_customer: AtomicU64::new(plan.first as u64),
        next_slot: AtomicU64::new(0),
        plan,
        ids,
        urls: webhook_urls,
        http,
        signer,
        stats,
        stop,
        over: AtomicBool::new(false),
        deadline,
    });
    let tasks: Vec<_> = (0..firing.plan.active.max(1))
        .map(|_| tokio::spawn(customer_slot(firing.clone())))
        .collect();
    for task in tasks {
        task.await.context("a customer task panicked")?;
    }
    Ok(())
}

/// One "desk" of the waiting room: customers come one after the other and write their script.
async fn customer_slot(f: Arc<Firing>) {
    let end = (f.plan.first + f.plan.customers) as u64;
    loop {
        let i = f.next_customer.fetch_add(1, Ordering::Relaxed);
        if i >= end
            || f.stop.load(Ordering::Relaxed)
            || f.over.load(Ordering::Relaxed)
            || Instant::now() >= f.deadline
        {
            return;
        }
        let i = i as usize;
        let handoff = f.plan.handoff_of(i);
        let texts = script(f.plan.messages_of(i), handoff);
        let wa_id = f.ids.wa_id(i);
        let number = &f.plan.numbers[i % f.plan.numbers.len()];
        for (k, text) in texts.iter().enumerate() {
            let due = match f.plan.pace {
                Pace::Unlimited => None,
                pace => {
                    let slot = f.next_slot.fetch_add(1, Ordering::Relaxed);
                    match pace.due(slot) {
                        Some(offset) => Some(f.stats.start + offset),
                        None => {
                            // The scenario's time is over.
                            f.over.store(true, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            };
            if let Some(due) = due {
                tokio::time::sleep_until(due.into()).await;
            }
            let is_handoff = handoff.is_some() && k + 1 == texts.len();
            let body = text_webhook(number, &wa_id, &f.ids.wamid(i, k), text);
            if !send(&f, i, &body, due, is_handoff.then_some(&wa_id)).await {
                if f.stop.load(Ordering::Relaxed) {
                    return;
                }
                continue;
            }
            if let Ok(mut acked) = f.stats.acked_ids.lock() {
                acked.push((i as u32, k as u16));
            }
            if f.plan.redeliver_fraction > 0.0
                && chosen(i * 31 + k, f.plan.redeliver_fraction, REDELIVER_STEP)
                && send(&f, i + 1, &body, None, None).await
            {
                f.stats.redelivered.inc();
            }
        }
        f.stats.customers_done.inc();
    }
}

/// Deliver one webhook until it is acknowledged (true), refused for good or given up (false).
async fn send(
    f: &Firing,
    customer: usize,
    body: &[u8],
    due: Option<Instant>,
    handoff: Option<&String>,
) -> bool {
    let signature = f.signer.sign(body);
    let mut transport_failures = 0;
    let mut node = customer;
    let mut first = true;
    loop {
        if f.stop.load(Ordering::Relaxed) || Instant::now() >= f.deadline {
            f.stats.errors.add("not_sent_deadline");
            return false;
        }
        let Ok(permit) = f.in_flight.acquire().await else {
            return false;
        };
        let started = Instant::now();
        // The first attempt of a paced message is timed from when it was due (a late start is
        // the system's fault too); retries from their own start.
        let from = if first {
            due.unwrap_or(started).min(started)
        } else {
            started
        };
        first = false;
        if let Some(wa_id) = handoff
            && let Ok(mut handoffs) = f.stats.handoffs.lock()
        {
            handoffs.insert(
                wa_id.clone(),
                HandoffSent {
                    sent: started,
                    acked: false,
                },
            );
        }
        f.stats.sent.inc();
        let result = f
            .http
            .post(&f.urls[node % f.urls.len()])
            .header("content-type", "application/json")
            .header("x-hub-signature-256", &signature)
            .body(body.to_vec())
            .send()
            .await;
        let done = Instant::now();
        drop(permit);
        match result {
            Ok(response) if response.status().as_u16() == 200 => {
                // Read the (empty) body so the connection goes back to the pool.
                let _ = response.bytes().await;
                f.stats.acked.inc();
                f.stats.note_ack(done);
                f.stats.latency.record(done - from);
                f.stats.per_second.record(done, done - from);
                if let Some(wa_id) = handoff
                    && let Ok(mut handoffs) = f.stats.handoffs.lock()
                    && let Some(h) = handoffs.get_mut(wa_id)
                {
                    h.acked = true;
                }
                return true;
            }
            Ok(response) if response.status().as_u16() == 503 => {
                f.stats.unavailable.inc();
                let wait = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(1);
                let _ = response.bytes().await;
                tokio::time::sleep(Duration::from_secs(wait.clamp(1, 60))).await;
            }
            Ok(response) => {
                let status = response.status().as_u16();
                let _ = response.bytes().await;
                f.stats.errors.add(format!("http_{status}"));
                return false;
            }
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connect"
                } else {
                    "transport"
                };
                f.stats.errors.add(kind);
                transport_failures += 1;
                if transport_failures >= MAX_TRANSPORT_ATTEMPTS && !f.plan.persistent {
                    f.stats.errors.add("gave_up");
                    return false;
                }
                // The next node, as a load balancer's health check would pick.
                node += 1;
                let backoff = 200 * transport_failures.min(5) as u64;
                tokio::time::sleep(Duration::from_millis(backoff)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_end_with_the_handoff_and_keep_their_length() {
        for n in 1..12 {
            assert_eq!(script(n, None).len(), n);
            let auto = script(n, Some(HandoffTo::Auto));
            assert_eq!(auto.len(), n);
            assert_eq!(auto.last(), Some(&"agent"));
            let sales = script(n, Some(HandoffTo::Sales));
            assert_eq!(sales.len(), n, "{sales:?}");
            let last = sales.last().copied();
            assert!(last == Some("Sales") || last == Some("agent"), "{sales:?}");
            if last == Some("Sales") {
                assert_eq!(sales[sales.len() - 2], "Talk to a person");
                assert!(at_menu_after(&sales[..sales.len() - 2]), "{sales:?}");
            }
        }
        assert_eq!(
            script(5, Some(HandoffTo::Sales)),
            vec!["hi", "Track my order", "A1234", "Talk to a person", "Sales"]
        );
    }

    #[test]
    fn paces_give_due_times_and_end() {
        let constant = Pace::Constant {
            rate: 100.0,
            duration: Duration::from_secs(2),
        };
        assert_eq!(constant.due(0), Some(Duration::ZERO));
        assert_eq!(constant.due(150), Some(Duration::from_millis(1500)));
        assert_eq!(constant.due(200), None);
        let ramp = Pace::Ramp {
            from: 10.0,
            to: 30.0,
            duration: Duration::from_secs(10),
        };
        // 10·t + t² messages by time t: 200 by t = 10.
        let t = ramp.due(56).map(|d| d.as_secs_f64()).unwrap_or(-1.0);
        assert!((t - 4.0).abs() < 1e-6, "{t}");
        assert_eq!(ramp.due(200), None);
    }

    #[test]
    fn fractions_are_spread() {
        let plan = CustomerPlan {
            first: 0,
            customers: 1000,
            messages_per_customer: 5,
            extra: 0,
            handoff_fraction: 0.1,
            sales_fraction: 0.5,
            pace: Pace::Unlimited,
            active: 1,
            connections: 1,
            numbers: vec!["1".into()],
            persistent: false,
            redeliver_fraction: 0.0,
        };
        let handoffs = (0..1000).filter(|&i| plan.handoff_of(i).is_some()).count();
        assert!((90..=110).contains(&handoffs), "{handoffs}");
        let sales = (0..1000)
            .filter(|&i| plan.handoff_of(i) == Some(HandoffTo::Sales))
            .count();
        assert!((35..=65).contains(&sales), "{sales}");
        let ids = RunIds { nonce: 4242 };
        assert_eq!(ids.wa_id(17), "14242000017");
        assert!(
            ids.wamid(17, 2)
                .starts_with(&ids.wamid_like().replace('%', ""))
        );
    }
}
