//! Conversation actors, their registry, and the partition dispatchers that feed them.
//!
//! Intake records events, then pushes each into the partition of its conversation
//! (`hash(key) % partitions`). One dispatcher task per partition delivers to the conversation's
//! actor, creating it on demand on one of several arbiters. Each partition is a bounded queue
//! and each actor a bounded mailbox; a full mailbox slows only its own partition. A periodic
//! sweep nudges any conversation whose recorded events are still unprocessed, so an event whose
//! dispatch was dropped (a full partition) or whose actor died is processed all the same.

pub mod actor;
pub mod commands;

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix::{Arbiter, ArbiterHandle};
use async_trait::async_trait;
use dashmap::DashMap;
use tokio::sync::{Semaphore, mpsc};

use crate::bot::HttpExecutor;
use crate::config::ConversationSettings;
use crate::domain::{ChannelId, ConversationKey, CustomerId};
use crate::metrics as m;
use crate::outbound::Outbound;
use crate::reload::LiveConfig;
use crate::store::{RecordedInbound, Store};
pub use actor::{CatchUp, ConversationActor, Deliver, Execute, Shutdown};
use commands::{Command, CommandError, CommandReply};

use crate::desk::Desk;
use crate::routing::actor::RouterActor;

/// What every conversation actor needs, passed in explicitly.
pub struct ConversationDeps {
    pub store: Arc<dyn Store>,
    /// The bot flows and routing rules in effect (swapped by a reload): each message takes
    /// the current snapshot once.
    pub live: LiveConfig,
    pub http: HttpExecutor,
    pub outbound: Outbound,
    pub settings: ConversationSettings,
    pub mark_as_read: bool,
    /// Routing, queues, agents.
    pub desk: Arc<Desk>,
    pub router: Addr<RouterActor>,
    /// Each channel's messaging window: what conversation views show and what refuses
    /// agents' free-form replies.
    pub windows: crate::channels::ChannelWindows,
    /// SLA policies and calendars: what conversation views show and when actors look for a
    /// breach.
    pub sla: crate::reports::sla_rules::SlaRules,
    /// The consent ledger: a customer's stop and start keywords (None: not kept, e.g. in
    /// unit tests).
    pub campaigns: Option<Arc<crate::campaigns::Campaigns>>,
    /// Live inbound events acknowledged to this node's conversations and not yet processed.
    pub backlog: Backlog,
    /// Whether any event webhook endpoint is enabled: steps write the outbox only then.
    pub event_webhooks: crate::integrations::webhooks::Subscribed,
    actors: DashMap<ConversationKey, ActorEntry>,
}

/// How many live inbound events wait for their conversation on this node (in their partition,
/// handed to its actor, or waiting for room in its mailbox, and not yet processed): intake's
/// lag behind processing, and what the campaign lane yields to. Counted by guards, so an event
/// dropped anywhere on the way is uncounted with it.
#[derive(Clone, Debug, Default)]
pub struct Backlog(Arc<std::sync::atomic::AtomicUsize>);

impl Backlog {
    /// Count one event until the guard is dropped.
    pub fn hold(&self) -> BacklogHeld {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        BacklogHeld(self.0.clone())
    }

    /// Events counted now.
    pub fn len(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One event counted in a [`Backlog`] while it lives.
#[derive(Debug)]
pub struct BacklogHeld(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for BacklogHeld {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A live actor and the permits that bound its mailbox: actix's own mailbox bound is per
/// sender (every `Addr` clone may add one more message), so the bound is enforced here.
#[derive(Clone)]
struct ActorEntry {
    addr: Addr<ConversationActor>,
    permits: Arc<Semaphore>,
}

impl ConversationDeps {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn Store>,
        live: LiveConfig,
        http: HttpExecutor,
        outbound: Outbound,
        settings: ConversationSettings,
        mark_as_read: bool,
        desk: Arc<Desk>,
        router: Addr<RouterActor>,
    ) -> Self {
        Self {
            store,
            live,
            http,
            outbound,
            settings,
            mark_as_read,
            desk,
            router,
            windows: Default::default(),
            sla: Default::default(),
            campaigns: None,
            backlog: Backlog::default(),
            event_webhooks: Default::default(),
            actors: DashMap::new(),
        }
    }

    /// These deps with the channels' messaging windows (by default every Meta channel has
    /// the 24 hours, none the `HUMAN_AGENT` days).
    pub fn with_windows(mut self, windows: crate::channels::ChannelWindows) -> Self {
        self.windows = windows;
        self
    }

    /// These deps with the consent ledger (stop and start keywords).
    pub fn with_campaigns(mut self, campaigns: Arc<crate::campaigns::Campaigns>) -> Self {
        self.campaigns = Some(campaigns);
        self
    }

    /// These deps, writing event webhooks only while `subscribed` says an endpoint is enabled.
    pub fn with_event_webhooks(
        mut self,
        subscribed: crate::integrations::webhooks::Subscribed,
    ) -> Self {
        self.event_webhooks = subscribed;
        self
    }

    /// The event webhooks of a step (`events::of_step`), none while no endpoint is enabled.
    pub fn webhook_events(
        &self,
        step: &crate::store::ConversationStep,
        contact_stored: bool,
        now_ms: i64,
    ) -> Vec<crate::store::WebhookOutboxEntry> {
        if !self.event_webhooks.wanted() {
            return Vec::new();
        }
        crate::integrations::webhooks::events::of_step(step, contact_stored, now_ms)
    }

    /// These deps with SLA policies.
    pub fn with_sla(mut self, sla: crate::reports::sla_rules::SlaRules) -> Self {
        self.sla = sla;
        self
    }

    /// Called by a stopping actor: forget it, unless a newer actor already took its place.
    pub(crate) fn registry_forget(&self, key: &ConversationKey, addr: &Addr<ConversationActor>) {
        self.actors
            .remove_if(key, |_, current| &current.addr == addr);
    }

    pub fn live_actors(&self) -> usize {
        self.actors.len()
    }
}

/// Owns the arbiters and the live actors; delivers events to them.
#[derive(Clone)]
pub struct ConversationRegistry {
    deps: Arc<ConversationDeps>,
    arbiters: Arc<Vec<ArbiterHandle>>,
}

impl ConversationRegistry {
    pub fn new(deps: Arc<ConversationDeps>) -> Self {
        let arbiters = (0..deps.settings.arbiters.max(1))
            .map(|_| Arbiter::new().handle())
            .collect();
        Self {
            deps,
            arbiters: Arc::new(arbiters),
        }
    }

    pub fn deps(&self) -> &Arc<ConversationDeps> {
        &self.deps
    }

    /// The live actor for a conversation, started (on an arbiter chosen by hash) if needed.
    fn actor(&self, channel: &ChannelId, key: &ConversationKey) -> ActorEntry {
        if let Some(entry) = self.deps.actors.get(key)
            && entry.addr.connected()
        {
            return entry.clone();
        }
        match self.deps.actors.entry(key.clone()) {
            dashmap::Entry::Occupied(mut occupied) if !occupied.get().addr.connected() => {
                let entry = self.start(channel, key);
                occupied.insert(entry.clone());
                entry
            }
            dashmap::Entry::Occupied(occupied) => occupied.get().clone(),
            dashmap::Entry::Vacant(vacant) => {
                let entry = self.start(channel, key);
                vacant.insert(entry.clone());
                entry
            }
        }
    }

    fn start(&self, channel: &ChannelId, key: &ConversationKey) -> ActorEntry {
        let index = key.partition(self.arbiters.len());
        let arbiter = &self.arbiters[index];
        let customer = customer_of(channel, key);
        let deps = self.deps.clone();
        let capacity = deps.settings.mailbox_capacity.max(1);
        let (key, channel) = (key.clone(), channel.clone());
        let addr = ConversationActor::start_in_arbiter(arbiter, move |_| {
            ConversationActor::new(key, channel, customer, deps)
        });
        ActorEntry {
            addr,
            permits: Arc::new(Semaphore::new(capacity)),
        }
    }

    /// Deliver one event. When the actor already holds `mailbox_capacity` undelivered events
    /// this waits for room, which slows only the event's partition (and, once the partition is
    /// full, makes intake shed with 503). An actor that stopped meanwhile is replaced; the new
    /// one catches up from the store, this event included.
    pub async fn deliver(&self, event: RecordedInbound) {
        self.deliver_with(event, None).await
    }

    /// [`deliver`](Self::deliver), with `done` told once the event is consumed (see
    /// [`Deliver`]).
    pub async fn deliver_with(
        &self,
        event: RecordedInbound,
        done: Option<tokio::sync::oneshot::Sender<bool>>,
    ) {
        let held = self.deps.backlog.hold();
        self.deliver_held(event, held, done).await
    }

    /// [`deliver_with`](Self::deliver_with), the event already counted in the backlog since it
    /// was acknowledged (`held`).
    async fn deliver_held(
        &self,
        event: RecordedInbound,
        held: BacklogHeld,
        done: Option<tokio::sync::oneshot::Sender<bool>>,
    ) {
        let entry = self.actor(&event.channel, &event.conversation);
        let permit = match entry.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                metrics::counter!(m::MAILBOX_SHEDS, "queue" => "mailbox_wait").increment(1);
                match entry.permits.clone().acquire_owned().await {
                    Ok(permit) => permit,
                    Err(_) => return, // closed: never happens, the semaphore is never closed
                }
            }
        };
        // The permits keep the actix mailbox (sized above them) from ever being full.
        match entry.addr.try_send(Deliver {
            event,
            permit,
            held,
            done,
        }) {
            Ok(()) => {}
            Err(SendError::Full(_)) => {
                // Cannot happen while permits ≤ mailbox; if it does, the sweep delivers it.
                metrics::counter!(m::MAILBOX_SHEDS, "queue" => "mailbox").increment(1);
            }
            Err(SendError::Closed(Deliver { event, .. })) => {
                self.deps.registry_forget(&event.conversation, &entry.addr);
                // A fresh actor catches up from the store, this event included.
                let _ = self.actor(&event.channel, &event.conversation);
            }
        }
    }

    /// Run a command in the conversation's actor, in order with its other events, and wait for
    /// the answer. Waits for room in the actor's bounded mailbox.
    pub async fn command(
        &self,
        channel: &ChannelId,
        key: &ConversationKey,
        command: Command,
    ) -> Result<CommandReply, CommandError> {
        let mut command = Some(command);
        // Two tries: an actor that stopped just now is replaced once.
        for _ in 0..2 {
            let entry = self.actor(channel, key);
            let permit = entry
                .permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| CommandError::Unavailable("mailbox closed".into()))?;
            let (reply, answer) = tokio::sync::oneshot::channel();
            let Some(cmd) = command.take() else { break };
            match entry.addr.try_send(Execute {
                command: cmd,
                reply,
                permit,
            }) {
                Ok(()) => {
                    return answer.await.unwrap_or_else(|_| {
                        Err(CommandError::Unavailable(
                            "the conversation restarted; retry".into(),
                        ))
                    });
                }
                Err(SendError::Full(_)) => {
                    metrics::counter!(m::MAILBOX_SHEDS, "queue" => "mailbox").increment(1);
                    return Err(CommandError::Unavailable("conversation busy".into()));
                }
                Err(SendError::Closed(execute)) => {
                    self.deps.registry_forget(key, &entry.addr);
                    command = Some(execute.command);
                }
            }
        }
        Err(CommandError::Unavailable(
            "the conversation is restarting; retry".into(),
        ))
    }

    /// Wake a conversation that has unprocessed events in the store.
    pub fn nudge(&self, channel: &ChannelId, key: &ConversationKey) {
        let entry = self.actor(channel, key);
        // A full mailbox means the actor is busy and will reach its backlog anyway.
        let _ = entry.addr.try_send(CatchUp);
    }

    /// Stop every actor and the arbiters (shutdown).
    /// Stop the actors of conversations in these partitions (of `count`): this node no longer
    /// owns them. Each finishes the event it is handling first.
    pub async fn stop_partitions(&self, partitions: &[usize], count: usize) {
        let addrs: Vec<_> = self
            .deps
            .actors
            .iter()
            .filter(|e| partitions.contains(&e.key().partition(count)))
            .map(|e| e.value().addr.clone())
            .collect();
        futures::future::join_all(addrs.iter().map(|addr| addr.send(Shutdown))).await;
    }

    pub async fn stop(&self) {
        let addrs: Vec<_> = self
            .deps
            .actors
            .iter()
            .map(|e| e.value().addr.clone())
            .collect();
        for addr in addrs {
            let _ = addr.send(Shutdown).await;
        }
        for arbiter in self.arbiters.iter() {
            arbiter.stop();
        }
    }
}

/// Where commands for conversations this node does not own go (cluster mode: the node that
/// owns the conversation's partition).
#[async_trait]
pub trait Remote: Send + Sync + 'static {
    /// Whether this node owns the conversation's partition now.
    fn owns(&self, key: &ConversationKey) -> bool;

    /// Run a command on the owning node and wait for its answer.
    async fn command(
        &self,
        channel: &ChannelId,
        key: &ConversationKey,
        command: Command,
    ) -> Result<CommandReply, CommandError>;

    /// Hand a command to the owning node without waiting for it to run; Ok once it is durably
    /// queued for that node.
    async fn tell(
        &self,
        channel: &ChannelId,
        key: &ConversationKey,
        command: Command,
    ) -> Result<(), CommandError>;
}

/// How commands reach a conversation's owner: its actor here (the embedded mode, or a
/// conversation this node owns), or the owning node (cluster mode).
#[derive(Clone)]
pub struct Conversations {
    registry: ConversationRegistry,
    remote: Option<Arc<dyn Remote>>,
}

impl Conversations {
    pub fn new(registry: ConversationRegistry, remote: Option<Arc<dyn Remote>>) -> Self {
        Self { registry, remote }
    }

    /// Each channel's messaging window (for conversation views).
    pub fn windows(&self) -> &crate::channels::ChannelWindows {
        &self.registry.deps.windows
    }

    /// SLA policies (for conversation views).
    pub fn sla(&self) -> &crate::reports::sla_rules::SlaRules {
        &self.registry.deps.sla
    }

    pub fn registry(&self) -> &ConversationRegistry {
        &self.registry
    }

    fn elsewhere(&self, key: &ConversationKey) -> Option<&Arc<dyn Remote>> {
        self.remote.as_ref().filter(|remote| !remote.owns(key))
    }

    /// Run a command in the conversation's actor, wherever it lives, and wait for the answer.
    pub async fn command(
        &self,
        channel: &ChannelId,
        key: &ConversationKey,
        command: Command,
    ) -> Result<CommandReply, CommandError> {
        match self.elsewhere(key) {
            Some(remote) => remote.command(channel, key, command).await,
            None => self.registry.command(channel, key, command).await,
        }
    }

    /// Hand a command to the conversation without waiting (the desk's placements, timers):
    /// never blocks the caller. While the conversation's owner cannot be reached it is retried
    /// with backoff for about a minute; an answer (even a refusal) ends it.
    pub fn tell(&self, channel: &ChannelId, key: &ConversationKey, command: Command) {
        let this = self.clone();
        let (channel, key) = (channel.clone(), key.clone());
        actix_rt::spawn(async move {
            let mut delay = Duration::from_millis(100);
            for _ in 0..16 {
                let result = match this.elsewhere(&key) {
                    Some(remote) => remote.tell(&channel, &key, command.clone()).await,
                    None => this
                        .registry
                        .command(&channel, &key, command.clone())
                        .await
                        .map(|_| ()),
                };
                match result {
                    Ok(()) => return,
                    Err(CommandError::Unavailable(e)) => {
                        tracing::debug!(conversation = %key, error = %e, "command not delivered yet; retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                    Err(answer) => {
                        tracing::debug!(conversation = %key, %answer, "command refused");
                        return;
                    }
                }
            }
            tracing::warn!(conversation = %key, ?command, "command dropped: its conversation stayed unreachable");
        });
    }
}

/// The customer part of a key (`{channel}:{customer}`).
fn customer_of(channel: &ChannelId, key: &ConversationKey) -> CustomerId {
    let s = key.as_str();
    let customer = s
        .strip_prefix(channel.as_str())
        .and_then(|rest| rest.strip_prefix(':'))
        .unwrap_or(s);
    CustomerId::new(customer)
}

/// The inbound log could not take the events (cluster mode: Redis unreachable). Nothing is
/// acknowledged: the webhook is answered 503 and Meta retries.
#[derive(Debug, thiserror::Error)]
#[error("inbound log unavailable: {0}")]
pub struct LogUnavailable(pub String);

/// Between intake and the conversation actors: recorded events go through the partition of
/// their conversation (`key.partition(partitions())`), in order, to the partition's owner. In
/// memory here ([`Partitions`]); Redis streams in cluster mode (`cluster::inbox`).
#[async_trait]
pub trait InboundLog: Send + Sync + 'static {
    /// How many partitions there are.
    fn partitions(&self) -> usize;

    /// Whether each partition has room for that many more events (checked before recording, so
    /// a saturated gateway sheds before it acknowledges).
    async fn has_room(
        &self,
        needed: &std::collections::BTreeMap<usize, usize>,
    ) -> Result<bool, LogUnavailable>;

    /// Hand recorded events to their partitions' owners, in order.
    async fn publish(&self, events: Vec<RecordedInbound>) -> Result<(), LogUnavailable>;
}

/// The partition queues between intake and the actors (the embedded mode).
#[derive(Clone)]
pub struct Partitions {
    senders: Arc<Vec<mpsc::Sender<(RecordedInbound, BacklogHeld)>>>,
    backlog: Backlog,
}

impl Partitions {
    /// Create the partitions and spawn one dispatcher task per partition (on the current
    /// runtime).
    pub fn start(count: usize, capacity: usize, registry: ConversationRegistry) -> Self {
        let mut senders = Vec::with_capacity(count);
        let backlog = registry.deps().backlog.clone();
        for _ in 0..count.max(1) {
            let (tx, mut rx) = mpsc::channel::<(RecordedInbound, BacklogHeld)>(capacity.max(1));
            let registry = registry.clone();
            actix_rt::spawn(async move {
                while let Some((event, held)) = rx.recv().await {
                    registry.deliver_held(event, held, None).await;
                }
            });
            senders.push(tx);
        }
        Self {
            senders: Arc::new(senders),
            backlog,
        }
    }

    pub fn partition_of(&self, key: &ConversationKey) -> usize {
        key.partition(self.senders.len())
    }

    /// Whether the partition has room for `n` more events (checked before recording, so a
    /// saturated gateway sheds before it acknowledges).
    pub fn has_room(&self, partition: usize, n: usize) -> bool {
        self.senders
            .get(partition)
            .is_some_and(|s| s.capacity() >= n)
    }

    /// Hand a recorded event to its partition. If the partition filled up meanwhile, the event
    /// stays unprocessed in the store and the sweep delivers it.
    pub fn push(&self, event: RecordedInbound) {
        let partition = self.partition_of(&event.conversation);
        if let Some(sender) = self.senders.get(partition)
            && sender.try_send((event, self.backlog.hold())).is_err()
        {
            metrics::counter!(m::MAILBOX_SHEDS, "queue" => "partition").increment(1);
        }
    }
}

#[async_trait]
impl InboundLog for Partitions {
    fn partitions(&self) -> usize {
        self.senders.len()
    }

    async fn has_room(
        &self,
        needed: &std::collections::BTreeMap<usize, usize>,
    ) -> Result<bool, LogUnavailable> {
        Ok(needed
            .iter()
            .all(|(partition, n)| Partitions::has_room(self, *partition, *n)))
    }

    async fn publish(&self, events: Vec<RecordedInbound>) -> Result<(), LogUnavailable> {
        for event in events {
            self.push(event);
        }
        Ok(())
    }
}

/// Periodically nudge conversations whose recorded events are not processed after `grace`;
/// at start-up (`grace` zero on the first pass) this resumes everything a crash interrupted.
/// With an `owner` (cluster mode), only conversations whose partition this node owns.
pub fn spawn_sweeper(
    store: Arc<dyn Store>,
    registry: ConversationRegistry,
    owner: Option<Arc<dyn Remote>>,
    interval: Duration,
    grace: Duration,
) -> actix_rt::task::JoinHandle<()> {
    actix_rt::spawn(async move {
        let mut first = true;
        loop {
            let cutoff = if first {
                i64::MAX
            } else {
                chrono::Utc::now().timestamp_millis() - grace.as_millis() as i64
            };
            first = false;
            match store.conversations_with_backlog(cutoff, 10_000).await {
                Ok(backlog) => {
                    if !backlog.is_empty() {
                        tracing::info!(
                            conversations = backlog.len(),
                            "resuming unprocessed events"
                        );
                    }
                    for (channel, key) in backlog {
                        // In a cluster, only the conversations of the partitions owned here.
                        if owner.as_ref().is_none_or(|owner| owner.owns(&key)) {
                            registry.nudge(&channel, &key);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "sweep failed"),
            }
            tokio::time::sleep(interval).await;
        }
    })
}

#[cfg(test)]
mod backlog_tests {
    use super::Backlog;

    #[test]
    fn an_event_is_counted_while_its_guard_lives() {
        let backlog = Backlog::default();
        assert!(backlog.is_empty());
        let first = backlog.hold();
        let second = backlog.clone().hold();
        assert_eq!(backlog.len(), 2);
        drop(first);
        assert_eq!(backlog.len(), 1);
        // Dropped with whatever carried it (a message the actor never handled, say).
        drop(vec![second]);
        assert!(backlog.is_empty());
    }
}
