//! One number's sender: a dispatcher task routing jobs into per-recipient lanes.
//!
//! - Producers take a slot (a permit of a `queue_capacity` semaphore) before enqueuing; the
//!   slot travels with the job and is released once its outcome is recorded, so at most
//!   `queue_capacity` jobs exist per number, wherever they are.
//! - The dispatcher owns `recipient → lane`. A lane is a task draining its own channel in
//!   order; it closes itself after [`LANE_IDLE`] without work. A lane that closed (or, in
//!   theory, filled up) is replaced by a new one that first waits for its predecessor to
//!   finish, so per-recipient order survives re-creation.
//! - Each attempt waits for the recipient's pair-rate limiter, the number's token bucket, then
//!   an in-flight permit; backoff sleeps hold no permit, so other recipients keep going.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;

use crate::channels::{ChannelClient, RetryClass, SendError, SendRequest};
use crate::config::OutboundSettings;
use crate::domain::{ChannelId, CustomerId, MessageId, OutboundMessage, ProviderMessageId};
use crate::metrics::{MAILBOX_SHEDS, OUTBOUND_LATENCY, OUTBOUND_SENDS};
use crate::store::{OutboundOutcome, Store};

/// The limits of one number's sends: its throughput (messages per second), the pair rate
/// to each recipient, and a channel's quota over a longer window where it has one (an X
/// account's DMs, [`OutboundSettings::quota`]). In this process ([`LocalThrottle`]), or shared
/// by every node of a cluster (`cluster::throttle`, in Redis) so that all nodes together stay
/// within the provider's limits.
#[async_trait::async_trait]
pub trait Throttle: Send + Sync + 'static {
    /// Wait for a slot of the number's throughput.
    async fn number(&self);
    /// Wait for a slot of the pair rate to `to`.
    async fn pair(&self, to: &CustomerId);
    /// Wait for a slot of the channel's quota (messages only, not read receipts); at once when
    /// it has none.
    async fn quota(&self) {}
    /// Forget per-recipient state that no longer limits anything (called periodically).
    fn tidy(&self) {}
}

/// Limits kept in this process: a GCRA token bucket for the number, one per recipient, and one
/// for the channel's quota if it has one.
pub struct LocalThrottle {
    number: DefaultDirectRateLimiter,
    pair: DefaultKeyedRateLimiter<CustomerId>,
    quota: Option<DefaultDirectRateLimiter>,
}

/// `sends` per `window_seconds`, all of them at once at most: `None` when the quota says
/// nothing (zero sends or an empty window).
pub fn quota_of(quota: Option<crate::config::SendQuota>) -> Option<Quota> {
    let quota = quota?;
    let sends = NonZeroU32::new(quota.sends)?;
    let period = Duration::from_secs(quota.window_seconds) / sends.get();
    Quota::with_period(period).map(|q| q.allow_burst(sends))
}

impl LocalThrottle {
    pub fn new(messages_per_second: u32, settings: &OutboundSettings) -> Self {
        let mps = NonZeroU32::new(messages_per_second).unwrap_or(NonZeroU32::MIN);
        let per_minute =
            NonZeroU32::new(settings.per_recipient_per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.per_recipient_burst).unwrap_or(NonZeroU32::MIN);
        Self {
            number: RateLimiter::direct(Quota::per_second(mps)),
            pair: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            quota: quota_of(settings.quota).map(RateLimiter::direct),
        }
    }
}

#[async_trait::async_trait]
impl Throttle for LocalThrottle {
    async fn number(&self) {
        self.number.until_ready().await;
    }
    async fn pair(&self, to: &CustomerId) {
        self.pair.until_key_ready(to).await;
    }
    async fn quota(&self) {
        if let Some(quota) = &self.quota {
            quota.until_ready().await;
        }
    }
    fn tidy(&self) {
        self.pair.retain_recent();
        self.pair.shrink_to_fit();
    }
}

/// A lane with no work for this long closes; the dispatcher also sweeps finished lanes and
/// stale pair-rate state at this interval. Long enough to keep a lane through a conversation's
/// exchange (a bot's replies, an agent typing the next line), short enough that a burst of new
/// conversations does not keep a lane (its task and channel, about 1 KiB) per recipient long
/// after their messages went out: 30 s kept 100,000 of them in a 100,000-customer burst.
pub(crate) const LANE_IDLE: Duration = Duration::from_secs(5);

/// The sender has shut down; the message was not enqueued.
#[derive(Debug, thiserror::Error)]
#[error("outbound sender closed")]
pub struct SenderClosed(pub Box<OutboundMessage>);

/// Why [`OutboundSender::try_send`] did not enqueue.
#[derive(Debug, thiserror::Error)]
pub enum TrySendError {
    /// `queue_capacity` messages are already waiting or in progress.
    #[error("outbound queue full")]
    Full(Box<OutboundMessage>),
    #[error("outbound sender closed")]
    Closed(Box<OutboundMessage>),
}

enum Job {
    /// Send a recorded message. `reclaim_before`: it was left `sending` by a sender that may
    /// have died; take it over only if it is still so since before that time (unix ms).
    Send {
        msg: Box<OutboundMessage>,
        reclaim_before: Option<i64>,
    },
    MarkRead {
        message_id: ProviderMessageId,
        typing: bool,
    },
    /// Hold the recipient's lane until then (everything to them queues behind it), or until
    /// the message it waits on is settled (its status arrived).
    Hold(tokio::time::Instant, Option<MessageId>),
}

struct Queued {
    to: CustomerId,
    job: Job,
    /// Released when the job is done.
    _slot: OwnedSemaphorePermit,
}

/// A recipient's lane. Its jobs are boxed: a channel allocates its slots 32 at a time, so a
/// lane waiting for work holds 32 pointers rather than 32 jobs (there is a lane per recent
/// recipient: a burst of new conversations makes tens of thousands).
struct Lane {
    tx: mpsc::Sender<Box<Queued>>,
    handle: JoinHandle<()>,
}

struct Shared {
    channel: ChannelId,
    client: Arc<dyn ChannelClient>,
    settings: OutboundSettings,
    store: Arc<dyn Store>,
    throttle: Arc<dyn Throttle>,
    in_flight: Semaphore,
    lane_capacity: usize,
    lane_idle: Duration,
    /// Live (non-campaign) messages waiting for the number's throughput: a campaign's message
    /// takes a turn only when none is (live traffic first).
    live_waiting: std::sync::atomic::AtomicUsize,
    /// Told when a live message got its turn.
    live_passed: tokio::sync::Notify,
    /// Campaigns' messages in flight at once: half of `max_in_flight` at most, so live ones
    /// always find room.
    campaign_flight: Semaphore,
    /// One campaign message at a time waits for the number's throughput, so a live message
    /// arriving then has at most that one ahead of it.
    campaign_gate: Semaphore,
    /// Set when the sender stops (shutdown): nothing new starts, nothing is retried; what is
    /// left stays recorded (queued or claimed) for the next start.
    stopped: tokio::sync::watch::Receiver<bool>,
}

impl Shared {
    fn stopping(&self) -> bool {
        *self.stopped.borrow()
    }

    /// Wait until no live message waits for the number's throughput.
    async fn live_first(&self) {
        use std::sync::atomic::Ordering;
        loop {
            let passed = self.live_passed.notified();
            if self.live_waiting.load(Ordering::Acquire) == 0 {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), passed).await;
        }
    }

    /// The number's throughput for one message: a live one first counts itself waiting, a
    /// campaign's waits until no live one does.
    async fn number_turn(&self, campaign: bool) {
        use std::sync::atomic::Ordering;
        if campaign {
            let _gate = self.campaign_gate.acquire().await.ok();
            self.live_first().await;
            self.throttle.number().await;
        } else {
            self.live_waiting.fetch_add(1, Ordering::AcqRel);
            self.throttle.number().await;
            self.live_waiting.fetch_sub(1, Ordering::AcqRel);
            self.live_passed.notify_waiters();
        }
    }

    /// Sleep, unless the sender stops first (then false).
    async fn pause(&self, delay: Duration) -> bool {
        let mut stopped = self.stopped.clone();
        tokio::select! {
            _ = tokio::time::sleep(delay) => !self.stopping(),
            _ = stopped.wait_for(|s| *s) => false,
        }
    }
}

/// Handle to one channel's sender; cheap to clone. The tasks stop once every handle is
/// dropped and the queued work is done.
#[derive(Clone)]
pub struct OutboundSender {
    channel: ChannelId,
    /// The channel's client, also asked for customers' profiles.
    client: Arc<dyn ChannelClient>,
    tx: mpsc::Sender<Queued>,
    slots: Arc<Semaphore>,
    capacity: usize,
    stop: Arc<tokio::sync::watch::Sender<bool>>,
}

impl std::fmt::Debug for OutboundSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundSender")
            .field("channel", &self.channel)
            .field("free_slots", &self.slots.available_permits())
            .finish()
    }
}

impl OutboundSender {
    /// Start the sender's tasks on the current tokio runtime.
    ///
    /// # Panics
    /// When called outside a tokio runtime (tokio's `spawn` requires one).
    pub fn spawn(
        channel: ChannelId,
        client: Arc<dyn ChannelClient>,
        settings: OutboundSettings,
        messages_per_second: u32,
        store: Arc<dyn Store>,
    ) -> OutboundSender {
        Self::spawn_with_idle(
            channel,
            client,
            settings,
            messages_per_second,
            store,
            LANE_IDLE,
        )
    }

    /// [`OutboundSender::spawn`] with a chosen lane idle period (tests).
    pub(crate) fn spawn_with_idle(
        channel: ChannelId,
        client: Arc<dyn ChannelClient>,
        settings: OutboundSettings,
        messages_per_second: u32,
        store: Arc<dyn Store>,
        lane_idle: Duration,
    ) -> OutboundSender {
        let throttle = Arc::new(LocalThrottle::new(messages_per_second, &settings));
        Self::spawn_throttled(channel, client, settings, throttle, store, lane_idle)
    }

    /// Start a sender whose limits are kept by `throttle` (shared by every node in a cluster).
    pub fn spawn_throttled(
        channel: ChannelId,
        client: Arc<dyn ChannelClient>,
        settings: OutboundSettings,
        throttle: Arc<dyn Throttle>,
        store: Arc<dyn Store>,
        lane_idle: Duration,
    ) -> OutboundSender {
        let capacity = settings.queue_capacity.max(1);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let shared = Arc::new(Shared {
            stopped,
            channel: channel.clone(),
            client: client.clone(),
            throttle,
            in_flight: Semaphore::new(settings.max_in_flight.max(1)),
            live_waiting: std::sync::atomic::AtomicUsize::new(0),
            live_passed: tokio::sync::Notify::new(),
            campaign_flight: Semaphore::new((settings.max_in_flight / 2).max(1)),
            campaign_gate: Semaphore::new(1),
            lane_capacity: capacity,
            lane_idle,
            settings,
            store,
        });
        let (tx, rx) = mpsc::channel(capacity);
        tokio::spawn(dispatch(shared, rx));
        OutboundSender {
            channel,
            client,
            tx,
            stop: Arc::new(stop),
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    pub fn channel(&self) -> &ChannelId {
        &self.channel
    }

    /// Messages (and read receipts) enqueued and not yet settled: what a campaign waits for
    /// to drain, so live conversations' messages go first.
    pub fn pending(&self) -> usize {
        self.capacity.saturating_sub(self.slots.available_permits())
    }

    /// The channel's client.
    pub fn client(&self) -> &Arc<dyn ChannelClient> {
        &self.client
    }

    /// Stop (shutdown): requests in flight finish and are recorded; nothing new starts and
    /// nothing is retried. What is left stays recorded for the next start to resume.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Enqueue a message already recorded as queued in the store, waiting for room when
    /// `queue_capacity` messages are pending (backpressure on the producer).
    pub async fn send(&self, msg: OutboundMessage) -> Result<(), SenderClosed> {
        self.enqueue(msg, None).await
    }

    /// Enqueue a message that a sender claimed before it died (see [`Outbound::resume`]); it
    /// is sent only if it is still unconfirmed since before `reclaim_before` (unix ms).
    ///
    /// [`Outbound::resume`]: super::Outbound::resume
    pub async fn resend_unconfirmed(
        &self,
        msg: OutboundMessage,
        reclaim_before: i64,
    ) -> Result<(), SenderClosed> {
        self.enqueue(msg, Some(reclaim_before)).await
    }

    async fn enqueue(
        &self,
        msg: OutboundMessage,
        reclaim_before: Option<i64>,
    ) -> Result<(), SenderClosed> {
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return Err(SenderClosed(Box::new(msg)));
        };
        // Holding a slot guarantees room; reserve only fails when the dispatcher is gone.
        let Ok(permit) = self.tx.reserve().await else {
            return Err(SenderClosed(Box::new(msg)));
        };
        permit.send(Queued {
            to: msg.to.clone(),
            job: Job::Send {
                msg: Box::new(msg),
                reclaim_before,
            },
            _slot: slot,
        });
        Ok(())
    }

    /// Hold everything to `to` until `until`: messages to them enqueued after this wait (the
    /// earlier ones keep their turn). Used when a message to them may or may not have reached
    /// Meta before a crash (`waiting_on`): the later ones wait until it is settled, or until
    /// `until` at the latest. False when the sender has shut down.
    pub async fn hold(
        &self,
        to: CustomerId,
        until: tokio::time::Instant,
        waiting_on: Option<MessageId>,
    ) -> bool {
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return false;
        };
        let Ok(permit) = self.tx.reserve().await else {
            return false;
        };
        permit.send(Queued {
            to,
            job: Job::Hold(until, waiting_on),
            _slot: slot,
        });
        true
    }

    /// Enqueue without waiting. On `Full` the caller sheds (this counts
    /// `MAILBOX_SHEDS{queue="outbound"}`; do not count it again).
    pub fn try_send(&self, msg: OutboundMessage) -> Result<(), TrySendError> {
        let slot = match self.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                metrics::counter!(MAILBOX_SHEDS, "queue" => "outbound").increment(1);
                return Err(TrySendError::Full(Box::new(msg)));
            }
            Err(tokio::sync::TryAcquireError::Closed) => {
                return Err(TrySendError::Closed(Box::new(msg)));
            }
        };
        let permit = match self.tx.try_reserve() {
            Ok(permit) => permit,
            Err(mpsc::error::TrySendError::Full(())) => {
                metrics::counter!(MAILBOX_SHEDS, "queue" => "outbound").increment(1);
                return Err(TrySendError::Full(Box::new(msg)));
            }
            Err(mpsc::error::TrySendError::Closed(())) => {
                return Err(TrySendError::Closed(Box::new(msg)));
            }
        };
        permit.send(Queued {
            to: msg.to.clone(),
            job: Job::Send {
                msg: Box::new(msg),
                reclaim_before: None,
            },
            _slot: slot,
        });
        Ok(())
    }

    /// Mark `message_id` from `to` as read (with a typing indicator when `typing`). Best
    /// effort: not recorded, shed (counted in `MAILBOX_SHEDS{queue="outbound"}`) when the
    /// queue is full. Goes through `to`'s lane, so it precedes replies enqueued after it, and
    /// takes a token of the number's throughput.
    pub fn mark_read(&self, to: CustomerId, message_id: ProviderMessageId, typing: bool) {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            metrics::counter!(MAILBOX_SHEDS, "queue" => "outbound").increment(1);
            return;
        };
        let queued = Queued {
            to,
            job: Job::MarkRead { message_id, typing },
            _slot: slot,
        };
        if self.tx.try_send(queued).is_err() {
            metrics::counter!(MAILBOX_SHEDS, "queue" => "outbound").increment(1);
        }
    }
}

async fn dispatch(shared: Arc<Shared>, mut rx: mpsc::Receiver<Queued>) {
    let mut lanes: HashMap<CustomerId, Lane> = HashMap::new();
    let mut sweep = tokio::time::interval(shared.lane_idle.max(Duration::from_millis(100)));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            queued = rx.recv() => match queued {
                Some(queued) => route(&shared, &mut lanes, queued),
                None => break,
            },
            _ = sweep.tick() => {
                lanes.retain(|_, lane| !lane.handle.is_finished());
                shared.throttle.tidy();
            }
        }
    }
    // Dropping the lanes' senders lets each lane finish its queue and exit.
    tracing::debug!(channel = %shared.channel, "outbound: dispatcher stopped");
}

/// Hand `queued` to its recipient's lane, creating (or re-creating) the lane when needed.
fn route(shared: &Arc<Shared>, lanes: &mut HashMap<CustomerId, Lane>, mut queued: Queued) {
    let mut predecessor = None;
    if let Some(lane) = lanes.get(&queued.to) {
        match lane.tx.try_send(Box::new(queued)) {
            Ok(()) => return,
            // Closed after idling (or full, which the slots rule out): a new lane takes over
            // once the old one has finished.
            Err(err) => queued = *err.into_inner(),
        }
        predecessor = lanes.remove(&queued.to).map(|lane| lane.handle);
    }
    let key = queued.to.clone();
    let (tx, rx) = mpsc::channel(shared.lane_capacity);
    // A new channel with capacity ≥ 1 has room for its first job.
    if tx.try_send(Box::new(queued)).is_err() {
        tracing::error!(channel = %shared.channel, "outbound: new lane refused its first job");
    }
    let handle = tokio::spawn(run_lane(shared.clone(), rx, predecessor));
    lanes.insert(key, Lane { tx, handle });
}

async fn run_lane(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Box<Queued>>,
    predecessor: Option<JoinHandle<()>>,
) {
    if let Some(predecessor) = predecessor {
        // Earlier messages to this recipient finish first. A panicked predecessor is logged.
        if let Err(err) = predecessor.await {
            tracing::error!(channel = %shared.channel, error = %err, "outbound: lane task failed");
        }
    }
    loop {
        if shared.stopping() {
            break;
        }
        match tokio::time::timeout(shared.lane_idle, rx.recv()).await {
            // The job's future (an HTTP send, its retries) is boxed while it runs: inline,
            // it would make every idle lane's task as large as a send in progress.
            Ok(Some(queued)) => Box::pin(process(&shared, *queued)).await,
            Ok(None) => break,
            Err(_idle) => {
                // Refuse new work, then finish what slipped in before the close.
                rx.close();
                while let Ok(queued) = rx.try_recv() {
                    if shared.stopping() {
                        break;
                    }
                    Box::pin(process(&shared, *queued)).await;
                }
                break;
            }
        }
    }
}

async fn process(shared: &Shared, queued: Queued) {
    let Queued { to, job, _slot } = queued;
    match job {
        Job::Send {
            msg,
            reclaim_before,
        } => deliver(shared, *msg, reclaim_before).await,
        Job::MarkRead { message_id, typing } => mark_read(shared, to, message_id, typing).await,
        Job::Hold(until, waiting_on) => hold(shared, until, waiting_on).await,
    }
}

/// How often a held lane looks whether the message it waits on was settled.
const HOLD_POLL: Duration = Duration::from_millis(250);

/// Keep the lane until `until`, or until `waiting_on` is no longer `sending`: a status webhook
/// showed it reached Meta (then it is not sent again), or another sender settled it.
async fn hold(shared: &Shared, until: tokio::time::Instant, waiting_on: Option<MessageId>) {
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() || !shared.pause(left.min(HOLD_POLL)).await {
            return;
        }
        if let Some(id) = waiting_on
            && let Ok(Some(status)) = shared.store.outbound_status(id).await
            && status != "sending"
        {
            tracing::debug!(channel = %shared.channel, message = %id, %status, "outbound: held message settled; lane goes on");
            return;
        }
    }
}

async fn mark_read(shared: &Shared, to: CustomerId, message_id: ProviderMessageId, typing: bool) {
    let request = SendRequest::MarkRead {
        to: to.clone(),
        message_id,
        typing_indicator: typing,
    };
    shared.throttle.number().await;
    let _permit = shared.in_flight.acquire().await.ok();
    if let Err(err) = shared.client.send(&request).await {
        tracing::debug!(channel = %shared.channel, customer = %to, error = %err, "outbound: read receipt failed");
    }
}

/// Backoff for store operations of the sender (claim, outcome): the store may be away for a
/// while (a database restart); these are retried until it is back or the sender stops.
fn store_backoff(settings: &OutboundSettings) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(settings.initial_backoff_ms.max(1)))
        .with_max_delay(Duration::from_millis(
            settings
                .max_backoff_ms
                .max(settings.initial_backoff_ms)
                .min(5_000),
        ))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Claim the message in the store before its first attempt, so that it is sent once whoever
/// resumes it after a crash; false when it is not ours to send (already claimed by another
/// sender, or it has an outcome). A store that cannot answer is retried until it is back
/// (this customer's later messages wait behind it, keeping their order); a sender that stops
/// meanwhile leaves it recorded for the next start.
async fn claim(shared: &Shared, msg: &OutboundMessage, reclaim_before: Option<i64>) -> bool {
    let mut backoff = store_backoff(&shared.settings);
    loop {
        match shared.store.claim_outbound(msg.id, reclaim_before).await {
            Ok(true) => return true,
            Ok(false) => {
                count(shared.channel.as_str(), "skipped", String::new());
                tracing::debug!(channel = %shared.channel, message = %msg.id, "outbound: already claimed or settled; not sending");
                return false;
            }
            Err(err) => {
                tracing::warn!(channel = %shared.channel, message = %msg.id, error = %err, "outbound: cannot claim; retrying");
                let delay = backoff.next().unwrap_or(Duration::from_secs(1));
                if !shared.pause(delay).await {
                    return false;
                }
            }
        }
    }
}

/// Send one message with retries, then record its outcome. The message is claimed right before
/// its first attempt, once the rate limits and a request slot let it go: a crash then leaves
/// claimed (and so held for `outbound.resend_unconfirmed_after_ms`) only what may really have
/// reached Meta, not what was still waiting for its turn.
async fn deliver(shared: &Shared, msg: OutboundMessage, reclaim_before: Option<i64>) {
    let settings = &shared.settings;
    let max_attempts = settings.max_attempts.max(1);
    // Throughput and transient errors: exponential with jitter, capped.
    let mut fast = ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(settings.initial_backoff_ms))
        .with_max_delay(Duration::from_millis(
            settings.max_backoff_ms.max(settings.initial_backoff_ms),
        ))
        .with_jitter()
        .with_max_times(max_attempts)
        .build();
    // Pair rate: base × 4^(n-1), Meta's 4^X advice; this lane only.
    let mut pair = ExponentialBuilder::new()
        .with_factor(4.0)
        .with_min_delay(Duration::from_millis(settings.pair_rate_backoff_ms))
        .without_max_delay()
        .with_max_times(max_attempts)
        .build();
    let request = SendRequest::Message {
        to: msg.to.clone(),
        content: msg.content.clone(),
        reply_to: msg.reply_to.clone(),
        callback_data: Some(msg.id.to_string()),
    };
    let channel = shared.channel.to_string();
    let campaign = msg.content.is_campaign();
    let mut attempts: usize = 0;
    let outcome = loop {
        attempts += 1;
        shared.throttle.pair(&msg.to).await;
        shared.throttle.quota().await;
        shared.number_turn(campaign).await;
        let result = {
            let _campaign_permit = match campaign {
                true => shared.campaign_flight.acquire().await.ok(),
                false => None,
            };
            let _permit = shared.in_flight.acquire().await.ok();
            if attempts == 1 && !claim(shared, &msg, reclaim_before).await {
                return;
            }
            let started = Instant::now();
            let result = shared.client.send(&request).await;
            metrics::histogram!(OUTBOUND_LATENCY, "channel" => channel.clone())
                .record(started.elapsed().as_secs_f64());
            result
        };
        let err = match result {
            Ok(accepted) => {
                count(&channel, "accepted", String::new());
                break OutboundOutcome::Accepted {
                    provider_id: accepted.provider_id,
                };
            }
            Err(err) => err,
        };
        let class = err.class();
        let delay = match class {
            RetryClass::Permanent => None,
            _ if attempts >= max_attempts => None,
            RetryClass::PairRate => pair.next(),
            RetryClass::Throughput | RetryClass::Transient => fast.next(),
        };
        // Never sooner than the provider asked (Telegram's `retry_after`).
        let delay = delay.map(|d| err.retry_after().map_or(d, |after| d.max(after)));
        match delay {
            Some(delay) => {
                count(&channel, "retried", code_label(&err));
                tracing::debug!(channel = %channel, message = %msg.id, attempt = attempts, error = %err, ?delay, "outbound: retrying");
                if !shared.pause(delay).await {
                    // Stopping: the message stays claimed; the next start resumes it.
                    return;
                }
            }
            None => {
                count(&channel, "failed", code_label(&err));
                tracing::warn!(channel = %channel, message = %msg.id, attempts, error = %err, "outbound: send failed");
                break OutboundOutcome::Failed {
                    code: err.code(),
                    reason: err.to_string(),
                };
            }
        }
    };
    let attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
    // Recorded once the store answers (until the sender stops: then the message stays claimed,
    // and Meta's status for it settles it after a restart).
    let mut backoff = store_backoff(settings);
    while let Err(err) = shared
        .store
        .record_outbound_outcome(msg.id, attempts, outcome.clone())
        .await
    {
        tracing::warn!(channel = %channel, message = %msg.id, error = %err, "outbound: cannot record outcome; retrying");
        let delay = backoff.next().unwrap_or(Duration::from_secs(1));
        if !shared.pause(delay).await {
            return;
        }
    }
}

fn count(channel: &str, outcome: &'static str, code: String) {
    metrics::counter!(OUTBOUND_SENDS, "channel" => channel.to_string(), "outcome" => outcome, "code" => code)
        .increment(1);
}

/// The `code` label: the provider's code, or `timeout` / `transport`.
fn code_label(err: &SendError) -> String {
    match err {
        SendError::Provider { code, .. } | SendError::RetryAfter { code, .. } => code.to_string(),
        SendError::Timeout => "timeout".into(),
        SendError::Transport(_) => "transport".into(),
    }
}
